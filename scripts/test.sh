#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test on SQLite and again
# on a throwaway PostgreSQL cluster this script installs (if needed), starts and stops. It also
# installs OpenCV, unpacks ONNX Runtime, fetches the test footage and builds the S3-compatible
# test server s3s-fs (all cached under ~/.cache/imind), the reference graphql-ws client and
# playwright-core (npm, pinned by the package-lock.json files under tests/), Debian's
# Chromium for what a browser shows, ffmpeg to make clips as phones record them, and pandas
# and pympi-ling (PyPI, pinned) to read the research exports.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_rust
ensure_apt_packages postgresql fonts-dejavu-core chromium $OPENCV_PACKAGES
# The ffmpeg command line makes the variable-rate and rotated clips of the recording tests.
ensure_apt_packages ffmpeg
IMIND_ORT_DYLIB=$(scripts/setup-ort.sh)
IMIND_FOOTAGE_DIR=$(scripts/fetch-footage.sh)
IMIND_S3S_FS=$(scripts/setup-s3s.sh)
# pandas and pympi-ling (PyPI) read the research exports back as researchers do.
IMIND_PYTHON=$(scripts/setup-pyreaders.sh)
export IMIND_ORT_DYLIB IMIND_FOOTAGE_DIR IMIND_S3S_FS IMIND_PYTHON
command -v npm >/dev/null 2>&1 || ensure_apt_packages nodejs npm
step "npm ci (graphql-ws reference client; playwright-core for the browser tests)"
npm ci --prefix tests/ws-client --no-audit --no-fund --loglevel=error
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

export CARGO_INCREMENTAL=0
export RUST_BACKTRACE=1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests on SQLite"
cargo test --workspace --locked

start_postgres
step "tests on PostgreSQL ($IMIND_TEST_POSTGRES_URL_REDACTED)"
# The distributed tests run `imind worker` processes: the binary the SQLite pass just built.
IMIND_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/imind" IMIND_TEST_POSTGRES_URL="$PG_URL" cargo test -p imind-tests --locked
