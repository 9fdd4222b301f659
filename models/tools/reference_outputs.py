"""Reference outputs for the Rust parity tests, computed with onnxruntime in Python on a real
image (scikit-image's astronaut, public domain), with the preprocessing the Rust side uses:
OpenCV decode, RGB, INTER_LINEAR resize, and per model:
  centerface  float32 RGB 0..255, NCHW, 256×256
  movenet     int32 RGB 0..255, NHWC, 256×256
  emotion     crop → grayscale (cv2 RGB2GRAY) → 64×64 INTER_LINEAR → x/255 → (x−0.5)·2, NHWC
Also checks the emotion ONNX model against Keras outputs when given (KERAS_INPUTS.npy and
KERAS_OUTPUTS.npy from keras_reference.py).
Usage: python reference_outputs.py MODELS_DIR ASTRONAUT.png OUT_DIR [KERAS_INPUTS KERAS_OUTPUTS]
"""
import hashlib
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

# The astronaut's face as CenterFace finds it (x 181, y 58, 88×120), squared and padded by
# 10 px the way fer does: (x, y, w, h) in the 512×512 image.
EMOTION_CROP = [145, 38, 140, 140]


def save(out_dir, name, array):
    array = np.ascontiguousarray(array, dtype="<f4")
    path = os.path.join(out_dir, f"{name}.f32")
    array.tofile(path)
    return {"shape": list(array.shape), "file": os.path.basename(path)}


def emotion_input(rgb, crop):
    x, y, w, h = crop
    face = rgb[y:y + h, x:x + w]
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return ((small / 255.0 - 0.5) * 2.0)[None, :, :, None]


def main(models, image_path, out_dir, keras_inputs=None, keras_outputs=None):
    os.makedirs(out_dir, exist_ok=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    rgb = cv2.cvtColor(cv2.imread(image_path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    small = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_LINEAR)
    manifest = {"image": {"file": os.path.basename(image_path),
                          "sha256": hashlib.sha256(open(image_path, "rb").read()).hexdigest()}}

    session = ort.InferenceSession(os.path.join(models, "centerface.onnx"), options)
    x = small.astype(np.float32).transpose(2, 0, 1)[None]
    names = [o.name for o in session.get_outputs()]
    manifest["centerface"] = {"size": [256, 256],
                              "outputs": {n: save(out_dir, f"centerface_{n}", v)
                                          for n, v in zip(names, session.run(None, {"input.1": x}))}}

    session = ort.InferenceSession(os.path.join(models, "movenet.onnx"), options)
    x = small.astype(np.int32)[None]
    manifest["movenet"] = {"size": [256, 256],
                           "outputs": {"output_0": save(out_dir, "movenet_output_0",
                                                        session.run(None, {"input": x})[0])}}

    session = ort.InferenceSession(os.path.join(models, "emotion.onnx"), options)
    x = emotion_input(rgb, EMOTION_CROP)
    probabilities = session.run(None, {"input": x})[0]
    manifest["emotion"] = {"crop": EMOTION_CROP, "outputs": {"emotion": save(out_dir, "emotion", probabilities)}}
    order = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    print("astronaut expression:", order[int(probabilities[0].argmax())], float(probabilities[0].max()))

    if keras_inputs:
        inputs, expected = np.load(keras_inputs), np.load(keras_outputs)
        got = session.run(None, {"input": inputs.astype(np.float32)})[0]
        error = float(np.abs(got - expected).max())
        manifest["emotion"]["max_abs_error_vs_keras"] = error
        assert error < 1e-5, f"ONNX emotion model differs from Keras by {error}"
        print("emotion ONNX vs Keras: max abs error", error)

    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:])
