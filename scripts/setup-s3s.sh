#!/usr/bin/env bash
# Builds the S3-compatible test server (s3s-fs, from crates.io; checks SigV4 signatures and
# presigned-URL expiry) into the cache once. Prints the binary's path.
set -euo pipefail
cache=${IMIND_CACHE:-$HOME/.cache/imind}
root="$cache/s3s-0.14.1"
if [[ ! -x "$root/bin/s3s-fs" ]]; then
  echo "building s3s-fs 0.14.1 (once, a few minutes)" >&2
  cargo install -q s3s-fs@0.14.1 --locked --features binary --root "$root" >&2
fi
echo "$root/bin/s3s-fs"
