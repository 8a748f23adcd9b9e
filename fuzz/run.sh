#!/usr/bin/env bash
# Runs fuzz targets for a fixed time each, one after another, on the `-O` ASan build
# (`RUSTC_BOOTSTRAP=1 cargo fuzz build -O` first; `fuzz/seed.sh` for the seed corpora), and
# prints a fuzz/README.md table row per target: minutes, executions, corpus size, crashes.
#
#   fuzz/run.sh SECONDS TARGET...
#
# The corpus grows in fuzz/corpus/TARGET; crash inputs land in fuzz/artifacts/TARGET/ and the
# log in fuzz/logs/TARGET.log. To run two targets side by side, start two run.sh. FUZZ_BIN: a
# directory of target binaries to run instead of the build (e.g. copies, while rebuilding).
set -euo pipefail
cd "$(dirname "$0")"
secs=$1
shift
bin=${FUZZ_BIN:-target/x86_64-unknown-linux-gnu/release}
mkdir -p logs
for t in "$@"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    start=$(date -u +%H:%M)
    set +e
    nice -n 10 "$bin/$t" "corpus/$t" -max_total_time="$secs" -rss_limit_mb=1024 \
        -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        > "logs/$t.log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -n 1 | grep -o '[0-9]*' || echo '?')
    crashes=$(find "artifacts/$t" -type f | wc -l)
    printf '| %s | %s | %s | %s | %s edges | %s crash files (exit %s) | %s UTC |\n' \
        "$t" "$(awk -v s="$secs" 'BEGIN { printf "%.1f", s / 60 }')" "$execs" "$(find "corpus/$t" -type f | wc -l)" \
        "$cov" "$crashes" "$rc" "$start"
done
