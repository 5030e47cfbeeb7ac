#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build over its seed corpus for a fixed time.
# Builds nothing: configure and build first, e.g.
#   CC=clang cmake -S . -B build-fuzz -DCRM_FUZZ=ON -DCRM_TESTS=ON && cmake --build build-fuzz -j2
# Usage: tests/fuzz/run.sh <fuzz-build-dir> [seconds-per-target=60]
# The corpus in git (tests/fuzz/corpus/<name>/, name = binary without "fuzz_") is copied to a
# temporary directory first, so new inputs never land in the tree. Exits non-zero if any target
# finds a crash, a leak, undefined behaviour or a timeout, or if a target is missing its corpus.
set -u

build=${1:?usage: $0 <fuzz-build-dir> [seconds-per-target]}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
corpus_root="$here/corpus"

mapfile -t targets < <(find "$build" -type f -name 'fuzz_*' ! -name '*-*' ! -name '*.*' -perm -u+x | sort)
if [ ${#targets[@]} -eq 0 ]; then
    echo "run.sh: no fuzz_* binaries under $build (configure with -DCRM_FUZZ=ON and build)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/crm-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    short=${name#fuzz_}
    seeds="$corpus_root/$short"
    corpus="$work/corpus-$short"
    artifacts="$work/artifacts-$short/"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "$seeds" ]; then
        cp -R "$seeds/." "$corpus/"
    else
        echo "run.sh: $name: no seed corpus at $seeds" >&2
        failed=1
    fi
    log="$work/$name.log"
    echo "== $name: ${seconds}s over $(find "$corpus" -type f | wc -l) seeds"
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1
    rc=$?
    findings=$(find "$artifacts" -type f | wc -l)
    if [ $rc -ne 0 ] || [ "$findings" -ne 0 ]; then
        echo "!! $name: exit $rc, $findings finding(s)" >&2
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 >&2
        for f in "$artifacts"*; do
            [ -f "$f" ] || continue
            keep="$build/$name-$(basename "$f")"
            cp "$f" "$keep"
            echo "   reproducer kept: $keep" >&2
        done
        failed=1
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' '
        echo "(cov: $(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2))"
    fi
done
exit $failed
