#!/usr/bin/env bash
# Builds and installs the FreeSWITCH that callpark is built and tested against, with
# sofia-sip and spandsp, into a prefix of its own; only when the prefix does not already
# hold the wanted revision (a second run returns in seconds).
#
#   scripts/freeswitch.sh [1.10.12|master] [--prefix DIR] [--print-prefix]
#
#   1.10.12   tag v1.10.12 (a88d069), the release admins run; default prefix
#             /usr/local/freeswitch                               (the default version)
#   master    0a54a48 (1.11.2-dev); default prefix /usr/local/freeswitch-master
#
# CALLPARK_FS_ROOT=<dir> puts the default prefixes under <dir> instead of /usr/local
# (<dir>/freeswitch, <dir>/freeswitch-master): make test with a root of its own builds
# both switches as a fresh machine does, beside the ones installed.
#
# Sources: FREESWITCH_SOURCES=<dir> names a folder of source archives laid out like
# ../shared/freeswitch/ (freeswitch-v1.10.12.tar.xz, freeswitch-0a54a48.tar.xz,
# sofia-sip-7333682.tar.xz, spandsp-0c7bceb.tar.xz and SHA256SUMS), each checked against
# SHA256SUMS before use. Without it the public repositories are cloned at the same
# revisions. Nothing of FreeSWITCH is kept in callpark's repository: the build happens in
# FREESWITCH_BUILD_DIR (default target/freeswitch/<version>), each step's log goes to
# <build dir>/<step>.log, and a failed step names itself and prints the end of its log.
#
# sofia-sip and spandsp (the same revisions for both versions) are built once: for the
# default prefixes into <root>/freeswitch-deps (root: CALLPARK_FS_ROOT or /usr/local),
# which both switches use, so that a fresh machine builds them once for the two; with
# --prefix, into that prefix (one switch, self-contained). FreeSWITCH and its modules
# find them by RUNPATH. A prefix built before that layout (its own copy of both) is
# still taken as installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=1.10.12
prefix=""
deps=""
print_prefix=no
while [ $# -gt 0 ]; do
	case $1 in
	1.10.12 | master) version=$1 ;;
	--prefix) prefix=$2; deps=$2; shift ;;
	--prefix=*) prefix=${1#--prefix=}; deps=$prefix ;;
	--print-prefix) print_prefix=yes ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "freeswitch: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

# The pinned revisions: one line each, what the archives and the clones must match.
SOFIA_REV=7333682
SPANDSP_REV=0c7bceb
case $version in
1.10.12)
	FS_REV=v1.10.12
	FS_ARCHIVE=freeswitch-v1.10.12.tar.xz
	FS_MODVERSION=1.10.12
	PCRE_DEV=libpcre3-dev # 1.10 links PCRE 1
	: "${prefix:=${CALLPARK_FS_ROOT:-/usr/local}/freeswitch}"
	;;
master)
	FS_REV=0a54a48
	FS_ARCHIVE=freeswitch-0a54a48.tar.xz
	FS_MODVERSION=1.11.2
	PCRE_DEV=libpcre2-dev # master moved to PCRE2
	: "${prefix:=${CALLPARK_FS_ROOT:-/usr/local}/freeswitch-master}"
	;;
esac
: "${deps:=${CALLPARK_FS_ROOT:-/usr/local}/freeswitch-deps}"
if [ "$print_prefix" = yes ]; then
	echo "$prefix"
	exit 0
fi

stamp=$prefix/share/callpark-freeswitch.revision
wanted="freeswitch $FS_REV sofia-sip $SOFIA_REV spandsp $SPANDSP_REV"

installed() {
	# pkg-config in the prefix answers with the version, and the stamp written by the last
	# step of this script names the same revisions (pkg-config alone cannot tell master
	# revisions apart).
	local v
	v=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --modversion freeswitch 2>/dev/null) || return 1
	case $v in "$FS_MODVERSION"*) ;; *) return 1 ;; esac
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$prefix/bin/freeswitch" ]
}

if installed; then
	echo "freeswitch: $version ($FS_REV) is installed in $prefix"
	exit 0
fi

build=${FREESWITCH_BUILD_DIR:-$root/target/freeswitch/$version}
mkdir -p "$build"
steps=5
n=0
started=$(date +%s)

step() {
	# step <log name> <what> <command...>: one line of progress, the output to <log name>.log.
	local log="$build/$1.log" name=$2 t0 rc=0
	shift 2
	n=$((n + 1))
	t0=$(date +%s)
	echo "freeswitch: $name ($n/$steps)..."
	# A subshell outside any || list, so that set -e stops the step at its first failure.
	set +e
	(
		set -e
		"$@"
	) >"$log" 2>&1
	rc=$?
	set -e
	if [ "$rc" != 0 ]; then
		echo "freeswitch: FAILED at '$name' (exit $rc); the last lines of $log:" >&2
		tail -n 40 "$log" >&2
		exit 1
	fi
	echo "freeswitch:   done in $(($(date +%s) - t0)) s"
}

packages() {
	local need=(build-essential autoconf automake libtool libtool-bin pkg-config yasm xz-utils
		"$PCRE_DEV" libssl-dev libsqlite3-dev libcurl4-openssl-dev libspeex-dev libspeexdsp-dev
		libedit-dev libldns-dev libsndfile1-dev uuid-dev libjpeg-dev libtiff-dev libopus-dev
		zlib1g-dev)
	[ -n "${FREESWITCH_SOURCES:-}" ] || need+=(git ca-certificates)
	local missing=()
	for p in "${need[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} = 0 ]; then
		echo "every build package is installed"
		return 0
	fi
	echo "installing ${missing[*]}"
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get -o DPkg::Lock::Timeout=300 update
	$sudo apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
}

# fetch_source <name> <archive> <repository> <revision>: a fresh tree in $build/src/<name>.
fetch_source() {
	local name=$1 archive=$2 repo=$3 rev=$4
	rm -rf "$build/src/$name"
	mkdir -p "$build/src"
	if [ -n "${FREESWITCH_SOURCES:-}" ]; then
		local dir
		dir=$(cd "$FREESWITCH_SOURCES" && pwd)
		[ -f "$dir/$archive" ] || { echo "$dir/$archive is missing"; return 1; }
		(cd "$dir" && grep " $archive\$" SHA256SUMS | sha256sum -c -) ||
			{ echo "$archive does not match $dir/SHA256SUMS"; return 1; }
		tar -C "$build/src" -xJf "$dir/$archive"
	else
		git clone --quiet "$repo" "$build/src/$name" ||
			{ echo "could not clone $repo (no network?): set FREESWITCH_SOURCES to a folder of the source archives"; return 1; }
		git -C "$build/src/$name" checkout --quiet "$rev"
	fi
	[ -d "$build/src/$name" ] || { echo "$archive did not unpack into $name/"; return 1; }
}

export PKG_CONFIG_PATH=$deps/lib/pkgconfig:$prefix/lib/pkgconfig
export LDFLAGS="-L$deps/lib -Wl,-rpath,$deps/lib -L$prefix/lib -Wl,-rpath,$prefix/lib"
export CPPFLAGS="-I$deps/include -I$prefix/include"
deps_stamp=$deps/share/callpark-freeswitch-deps.revision
deps_wanted="sofia-sip $SOFIA_REV spandsp $SPANDSP_REV"
jobs=$(nproc)

autotools_lib() {
	# autotools_lib <name> <archive> <repository> <revision>
	fetch_source "$@"
	cd "$build/src/$1"
	./bootstrap.sh
	./configure --prefix="$deps"
	make -j"$jobs"
	make install
}

deps_installed() {
	[ -f "$deps_stamp" ] && [ "$(cat "$deps_stamp")" = "$deps_wanted" ] &&
		PKG_CONFIG_PATH=$deps/lib/pkgconfig pkg-config --exists sofia-sip-ua spandsp
}

# The modules the shim, the tests, the demo and the benchmark load, and nothing else.
MODULES="
applications/mod_commands
applications/mod_dptools
applications/mod_hash
applications/mod_valet_parking
dialplans/mod_dialplan_xml
endpoints/mod_loopback
endpoints/mod_sofia
event_handlers/mod_event_socket
formats/mod_local_stream
formats/mod_native_file
formats/mod_sndfile
formats/mod_tone_stream
loggers/mod_console
loggers/mod_logfile
say/mod_say_en
"

fs_configure() {
	fetch_source freeswitch "$FS_ARCHIVE" https://github.com/signalwire/freeswitch.git "$FS_REV"
	cd "$build/src/freeswitch"
	printf '%s\n' $MODULES >modules.conf
	./bootstrap.sh -j
	./configure --prefix="$prefix" --disable-libvpx --disable-libyuv
}

fs_install() {
	cd "$build/src/freeswitch"
	make -j"$jobs"
	make install
	echo "$wanted" >"$stamp"
}

have_deps=no
if deps_installed; then
	have_deps=yes
	steps=3
fi
echo "freeswitch: building FreeSWITCH $version ($FS_REV) into $prefix; logs in $build"
step packages "installing the Debian build packages" packages
if [ "$have_deps" = yes ]; then
	echo "freeswitch: sofia-sip $SOFIA_REV and spandsp $SPANDSP_REV are installed in $deps"
else
	step sofia-sip "building sofia-sip into $deps" autotools_lib sofia-sip sofia-sip-$SOFIA_REV.tar.xz \
		https://github.com/freeswitch/sofia-sip.git $SOFIA_REV
	step spandsp "building spandsp into $deps" autotools_lib spandsp spandsp-$SPANDSP_REV.tar.xz \
		https://github.com/freeswitch/spandsp.git $SPANDSP_REV
	mkdir -p "$deps/share"
	echo "$deps_wanted" >"$deps_stamp"
fi
step freeswitch-configure "configuring FreeSWITCH" fs_configure
step freeswitch-install "building and installing FreeSWITCH" fs_install
installed || { echo "freeswitch: installed, but pkg-config in $prefix does not answer $FS_MODVERSION" >&2; exit 1; }
rm -rf "$build/src"
echo "freeswitch: FreeSWITCH $version ($FS_REV) installed in $prefix in $(($(date +%s) - started)) s"
