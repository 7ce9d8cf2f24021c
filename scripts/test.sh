#!/usr/bin/env bash
# The test command (README.md, "Tests"): formatting, lints, the unit and integration suites.
# Needs openssl, keytool (Java 17), pk12util (libnss3-tools) on PATH; .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --locked --all-targets --features test-hooks -- -D warnings
cargo test --locked --features test-hooks
