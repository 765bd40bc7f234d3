#!/usr/bin/env bash
# The real-switch tests: need FreeSWITCH (pkg-config freeswitch). Where it is missing
# they are skipped, loudly, with exit code 77.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PKG_CONFIG_PATH="/usr/local/freeswitch/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
if ! pkg-config --exists freeswitch; then
	echo "************************************************************************" >&2
	echo "SKIPPED: real FreeSWITCH tests. FreeSWITCH is not installed here" >&2
	echo "(pkg-config freeswitch fails). See README, 'Testing against FreeSWITCH'." >&2
	echo "************************************************************************" >&2
	exit 77
fi
pidfile=tests/fs/freeswitch.pid
kill_left_over() {
	if [ -f "$pidfile" ]; then
		pid=$(cat "$pidfile")
		if kill -0 "$pid" 2>/dev/null && grep -q freeswitch "/proc/$pid/cmdline" 2>/dev/null; then
			echo "stopping a FreeSWITCH (pid $pid) the harness left running" >&2
			kill -9 "$pid"
		fi
		rm -f "$pidfile"
	fi
}
kill_left_over
rc=0
if [ "${1:-}" = --soak ]; then
	shift
	python3 tests/fs/soak.py "$@" || rc=$?
else
	python3 tests/fs/harness.py "$@" || rc=$?
fi
kill_left_over
exit "$rc"
