#!/usr/bin/env bash
# Build the compiled kernels with AddressSanitizer + UndefinedBehaviorSanitizer in a
# temporary copy of the repository (the normal in-place build is left untouched) and run
# the kernel tests against that build.
#
# Usage: tools/sanitize.sh [extra pytest args...]
#   KEEP=1 keeps the temporary copy; TESTS="tests/a.py tests/b.py" overrides the test list.
# Exit status: 0 when every test passed and no sanitizer reported anything.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
CC="${CC:-gcc}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/minigrad-sanitize.XXXXXX")"
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== copying $REPO to $WORK"
tar -C "$REPO" --exclude=.git --exclude=build --exclude='*.so' --exclude=.hypothesis \
    --exclude=.pytest_cache --exclude=.ruff_cache --exclude='*.egg-info' \
    --exclude=__pycache__ -cf - . | tar -C "$WORK" -xf -

SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "== building with $CC $SAN_FLAGS"
(
    cd "$WORK"
    CC="$CC" MINIGRAD_EXTRA_CFLAGS="$SAN_FLAGS" \
        "$PY" setup.py build_ext --inplace --force >"$WORK/build.log" 2>&1
) || { echo "BUILD FAILED (log: $WORK/build.log)"; tail -n 40 "$WORK/build.log"; KEEP=1; exit 2; }
ls "$WORK"/minigrad/backend/_*.so

if [ -n "${TESTS:-}" ]; then
    read -r -a tests <<<"$TESTS"
else
    tests=()
    # the kernel tests, the fuzz test, and the optimizer tests (they drive the compiled update)
    for f in "$WORK"/tests/test_kernels_*.py "$WORK"/tests/test_fuzz_kernels.py "$WORK"/tests/test_optim.py; do
        [ -e "$f" ] && tests+=("tests/$(basename "$f")")
    done
fi
echo "== test files: ${tests[*]}"

LIBASAN="$("$CC" -print-file-name=libasan.so)"
LIBUBSAN="$("$CC" -print-file-name=libubsan.so)"
cd "$WORK"
set +e
# Python and its extensions leak by design at exit: leak checking is off. Any ASan report
# aborts the process; UBSan reports abort too (-fno-sanitize-recover, halt_on_error).
LD_PRELOAD="$LIBASAN:$LIBUBSAN" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:detect_odr_violation=0" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}" MINIGRAD_BACKEND=cython \
    "$PY" -c "import minigrad, minigrad.backend as b; assert minigrad.__file__.startswith('$WORK'), minigrad.__file__; \
assert b.current() == 'cython', b.info(); print('== minigrad from', minigrad.__file__, '| backend', b.current())" \
    >"$WORK/check.log" 2>&1
status=$?
cat "$WORK/check.log"
if [ $status -ne 0 ]; then echo "SANITIZED IMPORT FAILED"; KEEP=1; exit 3; fi
LD_PRELOAD="$LIBASAN:$LIBUBSAN" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:detect_odr_violation=0" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}" MINIGRAD_BACKEND=cython \
    "$PY" -m pytest -q -p no:cacheprovider "${tests[@]}" "$@" >"$WORK/pytest.log" 2>&1
status=$?
set -e
tail -n 5 "$WORK/pytest.log"
report="$(grep -m1 -E 'ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$WORK/pytest.log" || true)"
if [ -n "$report" ]; then
    echo "SANITIZER ERROR: $report"
    grep -m1 -A 30 -E 'ERROR: AddressSanitizer|runtime error:' "$WORK/pytest.log"
    KEEP=1
    exit 1
fi
if [ $status -ne 0 ]; then
    echo "TESTS FAILED under the sanitizers (exit $status; log kept in $WORK/pytest.log)"
    KEEP=1
    exit $status
fi
echo "CLEAN: no AddressSanitizer/UndefinedBehaviorSanitizer report"
