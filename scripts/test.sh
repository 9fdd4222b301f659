#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test on SQLite and again
# on a throwaway PostgreSQL cluster this script installs (if needed), starts and stops. It also
# installs OpenCV, unpacks ONNX Runtime and fetches the test footage (all cached).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_rust
ensure_apt_packages postgresql fonts-dejavu-core $OPENCV_PACKAGES
IMIND_ORT_DYLIB=$(scripts/setup-ort.sh)
IMIND_FOOTAGE_DIR=$(scripts/fetch-footage.sh)
export IMIND_ORT_DYLIB IMIND_FOOTAGE_DIR

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
