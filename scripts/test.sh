#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test on SQLite and again
# on a throwaway PostgreSQL cluster this script installs (if needed), starts and stops. It also
# installs OpenCV, unpacks ONNX Runtime, fetches the test footage and builds the S3-compatible
# test server s3s-fs (all cached under ~/.cache/imind).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_rust
ensure_apt_packages postgresql fonts-dejavu-core $OPENCV_PACKAGES
IMIND_ORT_DYLIB=$(scripts/setup-ort.sh)
IMIND_FOOTAGE_DIR=$(scripts/fetch-footage.sh)
IMIND_S3S_FS=$(scripts/setup-s3s.sh)
export IMIND_ORT_DYLIB IMIND_FOOTAGE_DIR IMIND_S3S_FS

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
IMIND_TEST_POSTGRES_URL="$PG_URL" cargo test -p imind-tests --locked
