#!/usr/bin/env bash
# Runs the core's concurrency tests under AddressSanitizer with LeakSanitizer: no memory
# error, no leak. tests/concurrency.rs is the storm (8 threads parking, retrieving,
# recalling and hanging up for 6.5 s on the real timer thread), tests/races.rs every race
# pair 2000 times; tests/valgrind_concurrency.sh runs the storm under valgrind too.
#
# Rust's sanitizers need a nightly toolchain (-Zsanitizer=address); without one this
# exits 77 (skipped) and says so loudly. The build goes to its own directory,
# target/asan/, so that the sanitizer's flags never rebuild the normal target/debug/, and
# names the host triple explicitly so that build scripts and proc-macros (build.rs,
# cbindgen) are built without the sanitizer. On 2 cores: about 1.5 minutes from scratch
# (most of it the build), 20 to 40 s once target/asan/ is built.
#
# Environment:
#   ASAN_TOOLCHAIN   the nightly toolchain to build with (default nightly)
#   ASAN_OPTIONS     added after this script's defaults (detect_leaks=1, ...), so a
#                    setting given here wins
#
# Exit status: 0 when both tests pass clean, 1 when a test fails or the sanitizer
# reports an error or a leak, 2 when the build fails, 77 (skipped) without nightly.
set -uo pipefail
cd "$(dirname "$0")/.."

TOOLCHAIN=${ASAN_TOOLCHAIN:-nightly}

skip() {
	echo "" >&2
	echo "******************************************************************" >&2
	echo "SKIPPED: the concurrency tests under AddressSanitizer need a nightly toolchain" >&2
	echo "  ($1)" >&2
	echo "  install: rustup toolchain install nightly" >&2
	echo "******************************************************************" >&2
	exit 77
}

command -v cargo >/dev/null 2>&1 || skip "no cargo on PATH"
cargo "+$TOOLCHAIN" --version >/dev/null 2>&1 || skip "no \"$TOOLCHAIN\" toolchain (cargo +$TOOLCHAIN fails)"
triple=$(rustc "+$TOOLCHAIN" -vV 2>/dev/null | sed -n 's/^host: //p')
case "$triple" in
x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
*) skip "AddressSanitizer is not set up here for the host \"${triple:-unknown}\"" ;;
esac

export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/asan"
# Leaks are reported when each test binary exits; any report fails the run.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
tests=(--test concurrency --test races)

echo "== building the concurrency tests with AddressSanitizer (cargo +$TOOLCHAIN, $triple, $CARGO_TARGET_DIR)"
start=$(date +%s)
if ! cargo "+$TOOLCHAIN" test --quiet --target "$triple" "${tests[@]}" --no-run; then
	echo "asan_concurrency.sh: the build with -Zsanitizer=address failed" >&2
	exit 2
fi
built=$(date +%s)
echo "built in $((built - start)) s"

echo "== running them (ASAN_OPTIONS=$ASAN_OPTIONS)"
if ! cargo "+$TOOLCHAIN" test --quiet --target "$triple" "${tests[@]}"; then
	echo "" >&2
	echo "!!!!!! the concurrency tests failed under AddressSanitizer (a failed test, or the" >&2
	echo "!!!!!! sanitizer's ERROR/SUMMARY above: a memory error or a leak) !!!!!!" >&2
	exit 1
fi
echo "concurrency tests clean under AddressSanitizer/LeakSanitizer: built in $((built - start)) s, ran in $(($(date +%s) - built)) s"
