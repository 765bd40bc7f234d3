#!/usr/bin/env bash
# Runs the core's concurrency test under valgrind's memcheck: no error, no leak.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
	echo "SKIPPED: valgrind is not installed" >&2
	exit 77
fi
cargo test --quiet --test concurrency --no-run
bin=$(ls -t target/debug/deps/concurrency-* | grep -v '\.d$' | head -n 1)
valgrind --quiet --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect "$bin" --test-threads=1
