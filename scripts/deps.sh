#!/usr/bin/env bash
# Installs what callpark needs, from Debian's packages and PyPI, only when missing.
#   deps.sh build   a C compiler, make and pkg-config
#   deps.sh test    the above, valgrind, and the SIP peers of the real-switch tests
# FreeSWITCH itself is not installed here (it is in no package registry; see README).
set -euo pipefail
what=${1:-test}
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have cc || need+=(gcc)
have make || need+=(make)
have pkg-config || need+=(pkg-config)
if [ "$what" = test ]; then
	have valgrind || need+=(valgrind)
	have sipp || need+=(sip-tester)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
