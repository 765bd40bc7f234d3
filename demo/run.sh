#!/usr/bin/env bash
# make demo: starts the installed FreeSWITCH with mod_callpark and the sample
# configuration in a scratch directory on loopback, ready for two softphones.
#   demo/run.sh           runs until Ctrl-C (or DEMO_SECONDS), then stops FreeSWITCH
#   demo/run.sh --check   starts, checks the module answers, stops (used by make test)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 demo/demo.py "$@"
