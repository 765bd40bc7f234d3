#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a bounded time, starting from the
# committed seed corpus (fuzz/corpus/<target>/), which it never changes: each target
# fuzzes a temporary copy that is thrown away afterwards. fuzz/dict/<target>.dict, when
# present, is passed as a libFuzzer dictionary.
#
#   scripts/fuzz.sh [target...]        default: every target in fuzz/fuzz_targets/
#
# Builds the targets once (`cargo +nightly fuzz build`: release, debug assertions,
# AddressSanitizer), then runs each binary with libFuzzer's -max_total_time and
# -timeout. The first build compiles callpark and its dependencies with the sanitizer
# (about 3 minutes on 2 cores); later builds reuse fuzz/target/.
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 30)
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang (default 10)
#   FUZZ_RSS_MB      memory limit in MB (default 2048)
#   FUZZ_TOOLCHAIN   the nightly toolchain cargo-fuzz builds with (default nightly)
#   FUZZ_KEEP_CORPUS directory: keep each grown corpus there as <dir>/<target>/ (to
#                    review and merge by hand with `cargo fuzz cmin`), default: discard
#   FUZZ_VERBOSE=1   stream libFuzzer's output instead of keeping it in a log
#
# Exit status: 0 when no target crashed, 1 when one did (its input is printed and left
# in fuzz/artifacts/<target>/), 77 (skipped) without a nightly toolchain or cargo-fuzz,
# 2 on a build or usage error.
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2048}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

skip() {
	echo "" >&2
	echo "******************************************************************" >&2
	echo "SKIPPED: fuzzing needs a nightly toolchain and cargo-fuzz" >&2
	echo "  ($1)" >&2
	echo "  install: rustup toolchain install nightly && cargo install cargo-fuzz --locked" >&2
	echo "******************************************************************" >&2
	exit 77
}

check_number() { # name value
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then
		echo "fuzz.sh: $1 must be a positive whole number, not \"$2\"" >&2
		exit 2
	fi
}
check_number FUZZ_SECONDS "$SECONDS_PER_TARGET"
check_number FUZZ_TIMEOUT "$TIMEOUT"
check_number FUZZ_RSS_MB "$RSS_MB"

command -v cargo >/dev/null 2>&1 || skip "no cargo on PATH"
cargo "+$TOOLCHAIN" --version >/dev/null 2>&1 || skip "no \"$TOOLCHAIN\" toolchain (cargo +$TOOLCHAIN fails)"
cargo "+$TOOLCHAIN" fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo fuzz --version fails)"

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in fuzz/fuzz_targets/*.rs; do
		targets+=("$(basename "$f" .rs)")
	done
fi
for t in "${targets[@]}"; do
	if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
		echo "fuzz.sh: no fuzz target \"$t\" (fuzz/fuzz_targets/$t.rs)" >&2
		exit 2
	fi
done

# Build every target once, then run the binaries: `cargo fuzz run` would rebuild before
# each target, so a tree that changes meanwhile would fuzz a mix of versions.
echo "== building fuzz targets (cargo +$TOOLCHAIN fuzz build) =="
build_start=$(date +%s)
build_ok=1
if [ $# -gt 0 ]; then
	for t in "${targets[@]}"; do
		cargo "+$TOOLCHAIN" fuzz build "$t" || build_ok=0
	done
else
	cargo "+$TOOLCHAIN" fuzz build || build_ok=0
fi
if [ "$build_ok" != 1 ]; then
	echo "fuzz.sh: cargo fuzz build failed" >&2
	exit 2
fi
echo "built in $(($(date +%s) - build_start)) s"
triple=$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')
bindir="fuzz/target/$triple/release"
# What `cargo fuzz run` sets for the sanitizer.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"

work=$(mktemp -d "${TMPDIR:-/tmp}/callpark-fuzz.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

crashed=()
summary=()
for t in "${targets[@]}"; do
	seeds="fuzz/corpus/$t"
	corpus="$work/corpus/$t"
	mkdir -p "$corpus" "fuzz/artifacts/$t"
	if [ -d "$seeds" ]; then
		cp -R "$seeds/." "$corpus/"
	else
		echo "fuzz.sh: warning: no seed corpus $seeds" >&2
	fi
	log="$work/$t.log"
	marker="$work/$t.start"
	touch "$marker"
	sleep 1 # artifacts written from now on are newer than the marker
	echo "== $t: ${SECONDS_PER_TARGET} s from $(ls "$corpus" | wc -l) seeds =="
	start=$(date +%s)
	args=(-artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT"
		-rss_limit_mb="$RSS_MB" -print_final_stats=1)
	if [ -f "fuzz/dict/$t.dict" ]; then
		args+=(-dict="fuzz/dict/$t.dict")
	fi
	args+=("$corpus")
	if [ "${FUZZ_VERBOSE:-0}" = 1 ]; then
		"$bindir/$t" "${args[@]}" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
	else
		"$bindir/$t" "${args[@]}" >"$log" 2>&1
		rc=$?
	fi
	elapsed=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	execs=${execs:-0}
	rate=$((execs / (elapsed > 0 ? elapsed : 1)))
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	new_inputs=$(find "fuzz/artifacts/$t" -type f -newer "$marker" 2>/dev/null)
	if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
		mkdir -p "$FUZZ_KEEP_CORPUS/$t" && cp -R "$corpus/." "$FUZZ_KEEP_CORPUS/$t/"
	fi
	line="$t: ${elapsed} s, ${execs} execs (${rate}/s), ${cov:-no coverage line}, corpus $(ls "$seeds" 2>/dev/null | wc -l) -> $(ls "$corpus" | wc -l)"
	if [ "$rc" -ne 0 ] || [ -n "$new_inputs" ]; then
		crashed+=("$t")
		summary+=("FAILED $line")
		echo "" >&2
		echo "!!!!!! fuzz target \"$t\" FAILED (libFuzzer exit $rc) !!!!!!" >&2
		if [ "${FUZZ_VERBOSE:-0}" != 1 ]; then
			# The panic message, the stack and libFuzzer's verdict.
			here=$(pwd)
			grep -nE -A2 "panicked at" "$log" | head -n 12 >&2
			grep -nE "ERROR: |SUMMARY: |Test unit written|^ +#[0-9]+ 0x[0-9a-f]+ in .* $here/(src|fuzz/fuzz_targets)/" "$log" | head -n 40 >&2
			echo "--- last lines of the log ---" >&2
			tail -n 40 "$log" >&2
		fi
		if [ -n "$new_inputs" ]; then
			for f in $new_inputs; do
				echo "crash input: $f" >&2
				echo "  reproduce: cargo +$TOOLCHAIN fuzz run $t $f" >&2
				echo "  bytes: $(head -c 300 "$f" | od -An -c | tr -s ' ' | head -n 8)" >&2
			done
		else
			echo "crash input: none written (see the log above)" >&2
		fi
	else
		summary+=("ok     $line")
	fi
done

echo ""
echo "== fuzzing summary (${SECONDS_PER_TARGET} s per target) =="
printf '%s\n' "${summary[@]}"
if [ ${#crashed[@]} -gt 0 ]; then
	echo "fuzz.sh: ${#crashed[@]} target(s) failed: ${crashed[*]}" >&2
	exit 1
fi
exit 0
