#!/usr/bin/env bash
# test.sh: installs what is missing, then builds and runs every test: ./build (Debug) unit and
# integration tests, ./build-asan (ASan+UBSan) the same, and the fuzz targets for a short while
# when tests/fuzz/run.sh exists. Ends with "test.sh: N passed, M failed"; non-zero on failure.
set -euo pipefail

CRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRM_SCRIPT=test.sh
# shellcheck source=deploy/lib.sh
. "$CRM_ROOT/deploy/lib.sh"
cd "$CRM_ROOT"

case ${1:-} in
    -h | --help)
        cat <<EOF
Usage: ./test.sh
Builds ./build (Debug) and runs its unit then integration tests, then ./build-asan
(-DCRM_SANITIZE=ON) likewise, then ./build-fuzz (clang, -DCRM_FUZZ=ON) with
tests/fuzz/run.sh for CRM_FUZZ_SECONDS (default 20) when that script exists.
Also builds ./build-release (Release, as ./run.sh builds: -O2 warnings are errors too).
Environment: CRM_SKIP_RELEASE=1, CRM_SKIP_ASAN=1, CRM_SKIP_FUZZ=1 skip those stages; CRM_JOBS (default 2).
One test: ctest --test-dir build -R integration/test_path --output-on-failure
EOF
        exit 0
        ;;
esac

PASSED=0
FAILED=0
STATUS=0
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# run_ctest DIR LABEL: runs the tests of one label, adds its counts to the totals.
run_ctest() {
    local dir=$1 label=$2 log=$OUT/ctest.log rc=0 total failed
    echo "=== $dir: $label tests"
    ctest --test-dir "$dir" -L "$label" --output-on-failure 2>&1 | tee "$log" || rc=$?
    # "100% tests passed, 0 tests failed out of 7"
    if grep -Eq 'tests failed out of [0-9]+' "$log"; then
        total=$(grep -Eo 'tests failed out of [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+$')
        failed=$(grep -Eo '[0-9]+ tests failed out of' "$log" | tail -n 1 | grep -Eo '^[0-9]+')
    else
        total=0
        failed=0
        echo "test.sh: no $label tests in $dir"
    fi
    PASSED=$((PASSED + total - failed))
    FAILED=$((FAILED + failed))
    if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
        STATUS=1
    fi
}

# stage NAME CMD...: runs a build step; a failure counts as one failed test and is reported.
stage() {
    local name=$1
    shift
    echo "=== $name"
    if ! "$@"; then
        echo "test.sh: $name FAILED"
        FAILED=$((FAILED + 1))
        STATUS=1
        return 1
    fi
}

# The fuzz targets only (tests/fuzz/fuzz_*.c), built with clang and -fsanitize=fuzzer.
build_fuzz() {
    local targets=() f
    for f in tests/fuzz/fuzz_*.c; do
        [ -e "$f" ] && targets+=(--target "$(basename "$f" .c)")
    done
    [ ${#targets[@]} -gt 0 ] || { echo "test.sh: no tests/fuzz/fuzz_*.c"; return 0; }
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCRM_FUZZ=ON -DCRM_TESTS=ON >/dev/null &&
        cmake --build build-fuzz -j"${CRM_JOBS:-2}" "${targets[@]}"
}

crm_install_deps

if stage "build (Debug) ./build" crm_build build Debug -DCRM_TESTS=ON; then
    run_ctest build unit
    run_ctest build integration
fi

# The optimised build ./run.sh makes: -O2 finds warnings (maybe-uninitialized) that -O0 does not,
# and -Werror makes them errors, so ./run.sh itself would fail.
if [ "${CRM_SKIP_RELEASE:-0}" != 1 ]; then
    if stage "build (Release, as ./run.sh builds) ./build-release" crm_build build-release Release -DCRM_TESTS=ON; then
        PASSED=$((PASSED + 1))
    fi
fi

if [ "${CRM_SKIP_ASAN:-0}" != 1 ]; then
    # The daemons that the integration tests start are the sanitized ones of build-asan
    # (the harness runs binaries from its own build dir).
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    if stage "build (ASan+UBSan) ./build-asan" crm_build build-asan Debug -DCRM_TESTS=ON -DCRM_SANITIZE=ON; then
        run_ctest build-asan unit
        run_ctest build-asan integration
    fi
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

if [ "${CRM_SKIP_FUZZ:-0}" != 1 ] && [ -f tests/fuzz/run.sh ]; then
    if stage "build (clang, fuzz) ./build-fuzz" build_fuzz; then
        if stage "fuzz ${CRM_FUZZ_SECONDS:-20}s per target" bash tests/fuzz/run.sh build-fuzz "${CRM_FUZZ_SECONDS:-20}"; then
            PASSED=$((PASSED + 1))
        fi
    fi
fi

echo "test.sh: $PASSED passed, $FAILED failed"
exit $STATUS
