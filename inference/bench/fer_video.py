"""The Python peer for the benchmark: the `fer` package's own video analysis (same
mini-XCEPTION expression model) on the same file at the same analysis rate.
Usage: python fer_video.py VIDEO ANALYSIS_FPS  → prints the wall seconds on the last line.
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import cv2  # noqa: E402
from fer.classes import Video  # noqa: E402
from fer.fer import FER  # noqa: E402

path, analysis_fps = os.path.abspath(sys.argv[1]), float(sys.argv[2])
fps = cv2.VideoCapture(path).get(cv2.CAP_PROP_FPS) or 25.0
frequency = max(1, round(fps / analysis_fps)) if analysis_fps > 0 else 1
detector = FER(mtcnn=False)
# `analyze` polls its preview window for a key on every frame and closes it at the end; with
# `display=False` there is none, and a headless OpenCV has no window functions.
cv2.waitKey = lambda delay=0: -1
cv2.destroyAllWindows = lambda: None
with tempfile.TemporaryDirectory() as out:
    # `fer` writes its own data.csv into the working directory: keep it in the temporary one.
    os.chdir(out)
    video = Video(path, outdir=out)
    started = time.perf_counter()
    video.analyze(detector, display=False, frequency=frequency, save_frames=False, save_video=False,
                  annotate_frames=False, zip_images=False)
    print(time.perf_counter() - started)
