#!/usr/bin/env bash
# Runs the server the way a newcomer wants it: embedded default (SQLite and blobs under
# ./data), demo logins seeded, GraphiQL at http://127.0.0.1:8080/. Extra arguments go to
# `imind serve` (e.g. nothing, to skip --demo: `scripts/run.sh --no-demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_rust
ensure_apt_packages $OPENCV_PACKAGES
IMIND_ORT_DYLIB=${IMIND_ORT_DYLIB:-$(scripts/setup-ort.sh)}
export IMIND_ORT_DYLIB

args=(--demo)
if [[ "${1:-}" == "--no-demo" ]]; then
  args=()
  shift
fi

step "building imind (release)"
cargo build --release --locked -p imind
step "starting: GraphiQL at http://${IMIND_BIND:-127.0.0.1:8080}/ — demo logins in README.md"
exec "${CARGO_TARGET_DIR:-target}/release/imind" serve "${args[@]}" "$@"
