#!/usr/bin/env bash
# Runs every test of callpark, one suite after another, and ends with a count of
# suites passed, failed and skipped. A skipped suite says why, loudly.
set -uo pipefail
cd "$(dirname "$0")/.."
export PKG_CONFIG_PATH="/usr/local/freeswitch/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
pass=0 fail=0 skip=0 failed_names=()

suite() {
	local name=$1
	shift
	echo
	echo "===== $name"
	if "$@"; then
		pass=$((pass + 1))
	else
		local rc=$?
		if [ "$rc" = 77 ]; then
			skip=$((skip + 1))
			echo "===== $name: SKIPPED"
		else
			fail=$((fail + 1))
			failed_names+=("$name")
			echo "===== $name: FAILED (exit $rc)"
		fi
	fi
}

header_unchanged() {
	# build.rs regenerated include/callpark.h during the build; it must match the commit.
	git diff --exit-code -- include/callpark.h || {
		echo "include/callpark.h differs from what build.rs generates: commit the regenerated header" >&2
		return 1
	}
}

fmt_and_lint() {
	cargo fmt --check && cargo clippy --all-targets --quiet -- -D warnings
}

sample_config() {
	cargo run --quiet --bin callpark -- check freeswitch/conf/autoload_configs/callpark.conf.xml &&
		! cargo run --quiet --bin callpark -- check tests/data/broken.conf.xml
}

suite "cargo build (and header generation)" cargo build --all-targets --quiet
suite "header is committed as generated" header_unchanged
suite "rustfmt and clippy" fmt_and_lint
cargo_tests() {
	# The library's unit tests once more with the module build's heap counter on
	# (src/heap.rs; not with --all-targets: benches/memory.rs has its own allocator).
	cargo test --quiet && cargo test --quiet --features heap-count --lib
}

suite "cargo test (unit, scenarios, concurrency)" cargo_tests
suite "C ABI test (ASan/UBSan, valgrind)" tests/c/run.sh
suite "concurrency test under valgrind" tests/valgrind_concurrency.sh
suite "concurrency tests under AddressSanitizer/LeakSanitizer (needs nightly)" tests/asan_concurrency.sh
suite "callpark check on the sample and a broken configuration" sample_config
suite "fuzz targets (FUZZ_SECONDS per target, default 30 s; needs nightly)" scripts/fuzz.sh
demo_check() {
	if ! pkg-config --exists freeswitch; then
		echo "SKIPPED: the demo needs FreeSWITCH (pkg-config freeswitch fails)" >&2
		return 77
	fi
	make -s install && demo/run.sh --check
}

suite "real FreeSWITCH tests" tests/fs/run.sh
suite "make demo starts and stops (check mode)" demo_check
suite "soak on the real switch (SOAK_SECONDS, default 45 s)" env SOAK_SECONDS="${SOAK_SECONDS:-45}" tests/fs/run.sh --soak

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
