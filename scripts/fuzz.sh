#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20: the CI smoke run) on its committed corpus.
# Long local runs: bash scripts/fuzz.sh 600. New inputs found go into fuzz/corpus/<target>;
# crashes into fuzz/artifacts/<target> (then add a regression test and minimise the corpus:
# cargo fuzz cmin <target>).
# cargo-fuzz runs on the stable toolchain with RUSTC_BOOTSTRAP=1; it is installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^qvca-fuzz$')
cd fuzz
cargo fuzz build -O
for target in $targets; do
    mkdir -p "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    # The full output goes to a log; the summary lines are shown. cargo fuzz's own exit status
    # decides (a crash, a timeout, an out-of-memory, or a build failure all fail the run).
    log="target/fuzz-$target.log"
    mkdir -p target
    status=0
    cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^(stat::|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|Done|thread)' "$log" || true
    if [ "$status" -ne 0 ] || compgen -G "artifacts/$target/*" >/dev/null; then
        echo "fuzz target $target failed (exit $status): see fuzz/$log and fuzz/artifacts/$target" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
done
