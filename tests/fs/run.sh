#!/usr/bin/env bash
# The real-switch tests, against the FreeSWITCH in FREESWITCH_PREFIX (default
# /usr/local/freeswitch, where scripts/freeswitch.sh puts 1.10.12).
#   tests/fs/run.sh [scenario ...]     the scenarios (all when none is named)
#   tests/fs/run.sh --soak [args]      the soak
#   tests/fs/run.sh --cluster [...]    two nodes sharing one park on a redis-server
#   tests/fs/run.sh --cluster-soak     the same two nodes under random operations and faults
#   tests/fs/run.sh --board [...]      the park board (board/) in a headless chromium
# Where that FreeSWITCH is missing they are skipped, loudly, with exit code 77; make test
# (CALLPARK_REQUIRE_FS=1) builds it first and counts a missing switch as a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FREESWITCH_PREFIX=${FREESWITCH_PREFIX:-/usr/local/freeswitch}
export PKG_CONFIG_PATH="$FREESWITCH_PREFIX/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
if ! pkg-config --exists freeswitch; then
	echo "************************************************************************" >&2
	echo "FreeSWITCH is not installed in $FREESWITCH_PREFIX (pkg-config freeswitch" >&2
	echo "fails): make freeswitch builds it (docs/admin-guide.md, 'Installing FreeSWITCH')." >&2
	echo "************************************************************************" >&2
	[ -n "${CALLPARK_REQUIRE_FS:-}" ] && exit 1
	echo "SKIPPED: real FreeSWITCH tests." >&2
	exit 77
fi
kill_left_over() {
	for pidfile in tests/fs/freeswitch.pid tests/fs/run-cluster/*/freeswitch.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		if kill -0 "$pid" 2>/dev/null && grep -q freeswitch "/proc/$pid/cmdline" 2>/dev/null; then
			echo "stopping a FreeSWITCH (pid $pid) the harness left running" >&2
			kill -9 "$pid"
		fi
		rm -f "$pidfile"
	done
}
kill_left_over
rc=0
if [ "${1:-}" = --soak ]; then
	shift
	python3 tests/fs/soak.py "$@" || rc=$?
elif [ "${1:-}" = --cluster ]; then
	shift
	python3 tests/fs/cluster.py "$@" || rc=$?
elif [ "${1:-}" = --board ]; then
	shift
	python3 tests/fs/board.py "$@" || rc=$?
elif [ "${1:-}" = --cluster-soak ]; then
	shift
	python3 tests/fs/cluster_soak.py "$@" || rc=$?
else
	python3 tests/fs/harness.py "$@" || rc=$?
fi
kill_left_over
exit "$rc"
