"""CenterFace with int8 weights and activations (QDQ, per-channel weights), for CPUs with int8
dot products (AVX-VNNI, AVX512-VNNI), where its convolutions run about 1.8× as fast.

Static quantisation: activation ranges come from frames of the test footage at the pipeline's
input size. The float graph is opset 9; QDQ with per-channel weights needs opset 13, so it is
converted first. Usage: python quantize_centerface.py centerface.onnx OUT.onnx VIDEO...
"""
import sys
import tempfile

import cv2
import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

# The pipeline's network size for 4:3 and 16:9 frames (long side 320, multiples of 32).
SIZES = [(320, 256), (320, 192)]
FRAMES_PER_VIDEO = 16


def calibration_inputs(videos):
    for path in videos:
        capture = cv2.VideoCapture(path)
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or FRAMES_PER_VIDEO
        for i in range(FRAMES_PER_VIDEO):
            capture.set(cv2.CAP_PROP_POS_FRAMES, i * total // FRAMES_PER_VIDEO)
            ok, frame = capture.read()
            if not ok:
                break
            width, height = SIZES[i % len(SIZES)]
            rgb = cv2.cvtColor(cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            yield {"input.1": rgb.transpose(2, 0, 1)[None].astype(np.float32)}


class Frames(CalibrationDataReader):
    def __init__(self, videos):
        self.inputs = calibration_inputs(videos)

    def get_next(self):
        return next(self.inputs, None)


def main(source, out, videos):
    with tempfile.TemporaryDirectory() as work:
        converted, prepared = f"{work}/opset13.onnx", f"{work}/prepared.onnx"
        onnx.save(version_converter.convert_version(onnx.load(source), 13), converted)
        quant_pre_process(converted, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            out,
            Frames(videos),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    onnx.checker.check_model(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
