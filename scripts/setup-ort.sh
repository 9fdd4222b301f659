#!/usr/bin/env bash
# Unpacks ONNX Runtime's shared library from the pinned PyPI wheel into the cache (no build-time
# downloads: `ort` loads it at run time). Prints the library's path.
set -euo pipefail
version=1.31.1
cache=${IMIND_CACHE:-$HOME/.cache/imind}
target="$cache/ort-$version/libonnxruntime.so.$version"
if [[ ! -f "$target" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64 \
    -d "$work" "onnxruntime==$version" >&2
  mkdir -p "$(dirname "$target")"
  python3 - "$work"/onnxruntime-*.whl "$(dirname "$target")" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            with open(f"{out}/{name.rsplit('/', 1)[1]}", "wb") as f:
                f.write(z.read(name))
PY
fi
echo "$target"
