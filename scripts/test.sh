#!/usr/bin/env bash
# The test command (README.md, "The two commands"). Needs openssl, keytool (Java 17), pk12util
# (libnss3-tools), shellcheck and nft on PATH; .ci/run installs them on Debian.
#
#   1. formatting, lints and the API documentation (rustdoc warnings are errors)
#   2. unit and integration tests, with the crash hooks compiled in (feature test-hooks)
#   3. the criterion benchmarks, once each (test mode), so they cannot rot
#   4. the dependency policy (deny.toml) in its offline parts
#   5. every fuzz target for a short smoke run (FUZZ_SECONDS, default 20; 0 skips)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets --features test-hooks -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --features test-hooks

echo "== tests"
cargo test --locked --features test-hooks

echo "== benchmarks in test mode"
cargo test --locked --benches

echo "== dependency policy"
command -v cargo-deny >/dev/null 2>&1 || cargo install --locked cargo-deny@0.20.2
cargo deny --locked check licenses bans sources

seconds=${FUZZ_SECONDS:-20}
if [ "$seconds" -gt 0 ]; then
    echo "== fuzz smoke runs (${seconds}s each)"
    bash scripts/fuzz.sh "$seconds"
fi
