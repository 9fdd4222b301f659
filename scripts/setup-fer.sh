#!/usr/bin/env bash
# The Python `fer` package, the peer the video benchmark compares against (`--fer-python`), in a
# virtual environment of its own (PyPI, pinned). fer is installed without its dependencies: of
# those, its video analysis needs TensorFlow, OpenCV, pandas and tqdm, not facenet-pytorch
# (MTCNN, which the benchmark leaves off) nor moviepy (audio). Prints its python.
set -euo pipefail

dir="${IMIND_FER_DIR:-$HOME/.cache/imind/venv-fer}"
if ! "$dir/bin/python" -c "import fer, tensorflow" 2>/dev/null; then
  # TensorFlow 2.15 has wheels up to Python 3.11.
  python3 -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))' || { echo "setup-fer.sh needs python3 ≤ 3.11" >&2; exit 1; }
  if [[ -e "$dir" && ! -f "$dir/pyvenv.cfg" ]]; then
    echo "$dir exists and is not a virtual environment: set IMIND_FER_DIR elsewhere" >&2
    exit 1
  fi
  rm -rf "$dir"
  python3 -m venv "$dir" >&2
  "$dir/bin/python" -m pip install -q --disable-pip-version-check tensorflow-cpu==2.15.1 numpy==1.26.4 \
    opencv-python-headless==4.10.0.84 pandas==2.2.3 tqdm==4.67.1 requests==2.32.3 pillow==11.0.0 \
    setuptools==65.5.0 >&2
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-deps fer==25.10.3 >&2
fi
echo "$dir/bin/python"
