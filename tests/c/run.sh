#!/usr/bin/env bash
# Builds tests/c/test_abi.c against include/callpark.h and the cdylib, then runs it
# under AddressSanitizer + UBSan, and (when valgrind is installed) under valgrind's
# memcheck with leak checking. Any error, leak or failed CHECK fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${CALLPARK_PROFILE:-debug}
lib=target/$profile
out=tests/c/build
mkdir -p "$out"
cflags=(-std=c11 -Wall -Wextra -Werror -Wpedantic -g -Iinclude)

cc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
	tests/c/test_abi.c -L"$lib" -lcallpark -Wl,-rpath,"$PWD/$lib" -o "$out/test_abi_asan"
echo "== C ABI test under AddressSanitizer/UBSan"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/test_abi_asan"

if command -v valgrind >/dev/null; then
	cc "${cflags[@]}" tests/c/test_abi.c -L"$lib" -lcallpark -Wl,-rpath,"$PWD/$lib" -o "$out/test_abi"
	echo "== C ABI test under valgrind"
	valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$out/test_abi"
else
	echo "== SKIPPED: valgrind is not installed; the C ABI test ran under ASan only" >&2
fi
