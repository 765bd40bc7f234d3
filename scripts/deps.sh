#!/usr/bin/env bash
# Installs what callpark needs, from Debian's packages and PyPI, only when missing.
#   deps.sh build   a C compiler, make and pkg-config
#   deps.sh demo    the above and pjsua2 (PyPI), the demo's scripted phones
#   deps.sh test    the above, valgrind, the SIP peers of the real-switch tests (SIPp from
#                   Debian, pjsua2 from PyPI), Debian's redis-server (the shared park of
#                   several nodes) and redis-sentinel (its failover), openssl (the TLS
#                   tests' certificates), Debian's chromium and chromium-driver with
#                   selenium (PyPI) for the park board's browser test, and, where a
#                   nightly toolchain exists,
#                   cargo-fuzz (from crates.io) for the fuzz targets
# FreeSWITCH itself is built by scripts/freeswitch.sh (it is in no package registry).
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
	have redis-server || need+=(redis-server)
	# tests/cluster_failover.rs: a primary, a replica and three Sentinels.
	have redis-sentinel || need+=(redis-sentinel)
	# tests/cluster_security.rs makes its TLS certificates with it.
	have openssl || need+=(openssl)
	# tests/fs/board.py: the park board in a real headless browser, driven over WebDriver.
	have chromium || need+=(chromium)
	have chromedriver || need+=(chromium-driver)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
	$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "$what" = test ] || [ "$what" = demo ]; then
	if ! python3 -c 'import pjsua2' 2>/dev/null; then
		echo "deps: installing pjsua2-python (PyPI) for the scripted phones"
		python3 -m pip install --quiet --root-user-action=ignore pjsua2-python
	fi
fi
if [ "$what" = test ]; then
	if ! python3 -c 'import selenium' 2>/dev/null; then
		echo "deps: installing selenium (PyPI) for the park board's browser test"
		python3 -m pip install --quiet --root-user-action=ignore selenium
	fi
	if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! cargo fuzz --version >/dev/null 2>&1; then
		echo "deps: installing cargo-fuzz (crates.io) for the fuzz targets; takes a few minutes once"
		cargo install --quiet --locked cargo-fuzz
	fi
fi
