#!/usr/bin/env bash
# Runs every test of callpark, one suite after another, and ends with a count of
# suites passed, failed and skipped. A skipped suite says why, loudly.
set -uo pipefail
cd "$(dirname "$0")/.."
# The two FreeSWITCH versions under test (scripts/freeswitch.sh builds each where it is
# missing): 1.10.12, the release admins run, gets every real-switch suite; master gets the
# module's build and load and the scenarios that touch what differs between versions.
FS_STABLE_PREFIX=$(scripts/freeswitch.sh 1.10.12 --print-prefix)
FS_MASTER_PREFIX=$(scripts/freeswitch.sh master --print-prefix)
export FREESWITCH_PREFIX=$FS_STABLE_PREFIX
export PKG_CONFIG_PATH="$FS_STABLE_PREFIX/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
# In make test a FreeSWITCH that could not be built is a failure, never a skip.
export CALLPARK_REQUIRE_FS=1
pass=0 fail=0 skip=0 failed_names=()
# The real-switch harness appends each failed scenario here, printed again at the end.
export CALLPARK_FAILURE_SUMMARY=$PWD/target/failed-scenarios.txt
mkdir -p target && rm -f "$CALLPARK_FAILURE_SUMMARY"

suite() {
	local name=$1
	shift
	local t0=$SECONDS
	echo
	echo "===== $name"
	if "$@"; then
		pass=$((pass + 1))
		echo "===== $name: passed in $((SECONDS - t0)) s"
	else
		local rc=$?
		if [ "$rc" = 77 ]; then
			skip=$((skip + 1))
			echo "===== $name: SKIPPED"
		else
			fail=$((fail + 1))
			failed_names+=("$name")
			echo "===== $name: FAILED (exit $rc) after $((SECONDS - t0)) s"
		fi
	fi
}

# The two switches are built (where missing: a fresh machine) in the background from
# the start, 1.10.12 then master, at the lowest priority, while the Rust suites run: they
# take the CPU those leave idle (a fuzz target runs on one core, tests wait on Redis and
# timers). The suites "FreeSWITCH ... is installed" wait for their build and print its
# log; where both are installed, each is a check of a second.
FS_BUILD=target/fs-build
mkdir -p "$FS_BUILD" && rm -f "$FS_BUILD"/*.rc
(
	for v in 1.10.12 master; do
		nice -n 19 scripts/freeswitch.sh "$v" >"$FS_BUILD/$v.log" 2>&1
		echo $? >"$FS_BUILD/$v.rc"
	done
) &

fs_installed() {
	local v=$1
	while [ ! -f "$FS_BUILD/$v.rc" ]; do
		sleep 2
	done
	cat "$FS_BUILD/$v.log"
	return "$(cat "$FS_BUILD/$v.rc")"
}

header_unchanged() {
	# build.rs regenerated include/callpark.h during the build; it must match the commit.
	git diff --exit-code -- include/callpark.h || {
		echo "include/callpark.h differs from what build.rs generates: commit the regenerated header" >&2
		return 1
	}
}

fmt_and_lint() {
	cargo fmt --all --check && cargo clippy --workspace --all-targets --quiet -- -D warnings
}

sample_config() {
	# The binary the first suite built (cargo run would rebuild it after the heap-count
	# tests changed the library's features: half a minute).
	target/debug/callpark check freeswitch/conf/autoload_configs/callpark.conf.xml &&
		! target/debug/callpark check tests/data/broken.conf.xml &&
		board_config
}

board_config() {
	# The board's example configuration passes with its secret files present, and a
	# file with a wrong line is refused, naming the line.
	local d
	d=$(mktemp -d)
	printf 'ClueCon\n' >"$d/pw"
	sed "s|/etc/freeswitch/callpark-board.esl-password|$d/pw|" board/callpark-board.conf.example >"$d/ok.conf"
	printf 'esl = 127.0.0.1:8021\nlisten = nowhere\n' >"$d/bad.conf"
	target/debug/callpark-board --check "$d/ok.conf" &&
		! target/debug/callpark-board --check "$d/bad.conf" 2>"$d/err" &&
		grep -q 'line 2: listen' "$d/err"
	local rc=$?
	rm -rf "$d"
	return $rc
}

suite "cargo build (and header generation; the park board)" cargo build --workspace --all-targets --quiet
suite "header is committed as generated" header_unchanged
suite "rustfmt and clippy" fmt_and_lint
cargo_tests() {
	# The library's unit tests once more with the module build's heap counter on
	# (src/heap.rs; not with --all-targets: benches/memory.rs has its own allocator).
	# --workspace: the board's tests too, with the features the first suite's build
	# unified (a -p of one member resolves its own and rebuilds the dependencies).
	cargo test --quiet --workspace && cargo test --quiet --features heap-count --lib
}

suite "cargo test (unit, scenarios, concurrency, two nodes on a redis-server; the park board's units)" cargo_tests
# The core's scenario tests once more with the Redis store behind the engine (each test
# starts its redis-server on a loopback port; tests/common/redis_server.rs).
suite "the core's scenario tests against the Redis store" \
	env CALLPARK_TEST_STORE=redis cargo test --quiet --workspace --test scenarios --test answer --test notices --test operator --test lots
suite "C ABI test (ASan/UBSan, valgrind)" tests/c/run.sh
suite "concurrency test under valgrind" tests/valgrind_concurrency.sh
suite "concurrency tests under AddressSanitizer/LeakSanitizer (needs nightly)" tests/asan_concurrency.sh
suite "callpark check (and callpark-board --check) on the samples and broken configurations" sample_config
suite "fuzz targets (FUZZ_SECONDS per target, default 30 s; needs nightly)" scripts/fuzz.sh
demo_check() {
	make -s install && demo/run.sh --check
}

demo_once() {
	# The narrated first scenario with scripted phones, then stop (make demo stays up).
	make -s install && demo/run.sh --once
}

suite "FreeSWITCH 1.10.12 is installed (scripts/freeswitch.sh builds it once, in the background)" fs_installed 1.10.12
suite "real FreeSWITCH tests on 1.10.12" tests/fs/run.sh
suite "the park board (callpark-board) on 1.10.12 in headless chromium" tests/fs/run.sh --board
suite "make demo starts and stops (check mode, 1.10.12)" demo_check
suite "make demo plays the first scenario (1.10.12)" demo_once
suite "soak on the real switch (1.10.12; SOAK_SECONDS, default 45 s)" env SOAK_SECONDS="${SOAK_SECONDS:-45}" tests/fs/run.sh --soak
suite "two FreeSWITCH 1.10.12 nodes sharing one park on a redis-server" tests/fs/run.sh --cluster
suite "cluster soak: two 1.10.12 nodes under random operations and Redis faults (SOAK_SECONDS, default 45 s)" \
	env SOAK_SECONDS="${SOAK_SECONDS:-45}" tests/fs/run.sh --cluster-soak
suite "FreeSWITCH master 0a54a48 is installed (scripts/freeswitch.sh builds it once, in the background)" fs_installed master
suite "real FreeSWITCH tests on master 0a54a48 (module build and load, s1, s6, s9, s10, s12, s14, s15, s17, s26, s29, s30, s31, s32, s34, s35, s44, s45, s47)" \
	env FREESWITCH_PREFIX="$FS_MASTER_PREFIX" PKG_CONFIG_PATH="$FS_MASTER_PREFIX/lib/pkgconfig" \
	tests/fs/run.sh s1_blind_transfer_park_and_star88 s6_sipp_retrievers_race s9_attended_transfer_park s10_exit_key \
	s12_held_in_the_extension_that_parked_it s14_parking_lot s15_valet_parking_keys s17_retriever_gone_before_it_is_connected \
	s26_forged_referred_by_never_picks_the_tenant s29_far_end_cannot_retrieve s30_parked_for_the_user_whose_contact_was_called \
	s31_a_global_domain_name_picks_no_tenant s32_unload_and_load s34_reload_with_calls_parked \
	s35_module_reload_keeps_conversations s44_park_keys s45_visual_park_notices s47_one_step_park_by_keys
# On master, the cluster scenarios whose subject is the switch's own behaviour (a node
# killed, Redis stopped, a module loaded under a taken name, the hand-over application
# without media, a Sentinel failover, a 302 followed, a bridge abandoned before it
# connected); the others exercise the library's rules, which 1.10.12's run covers.
suite "two FreeSWITCH master 0a54a48 nodes sharing one park on a redis-server (c1, c4, c5, c14, c16, c17, c18, c19)" \
	env FREESWITCH_PREFIX="$FS_MASTER_PREFIX" PKG_CONFIG_PATH="$FS_MASTER_PREFIX/lib/pkgconfig" tests/fs/run.sh --cluster \
	c1_parked_on_a_picked_up_on_b c4_killed_node_loses_its_calls c5_redis_stopped_and_started \
	c14_a_second_node_with_a_running_node_s_name c16_hand_over_flood_from_no_node c17_sentinel_failover \
	c18_cross_node_pickup_by_redirect c19_retriever_on_b_gone_before_it_is_connected

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed suites: ${failed_names[*]}"
	[ -s "$CALLPARK_FAILURE_SUMMARY" ] && { echo "failed scenarios:"; cat "$CALLPARK_FAILURE_SUMMARY"; }
fi
echo "suites: $pass passed, $fail failed, $skip skipped (in $((SECONDS / 60)) min $((SECONDS % 60)) s)"
[ "$fail" = 0 ]
