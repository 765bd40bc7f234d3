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
exec python3 tests/fs/harness.py "$@"
