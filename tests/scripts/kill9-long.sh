#!/usr/bin/env bash
# The long kill -9 run: 500 rounds (or $1) of SIGKILL at random moments
# against the real `rollcall` binary, release build. See docs/reliability.md.
#
#   tests/scripts/kill9-long.sh            # 500 rounds, the default seed
#   tests/scripts/kill9-long.sh 2000 42    # 2000 rounds, seed 42
set -euo pipefail
cd "$(dirname "$0")/../.."
export ROLLCALL_KILL9_ROUNDS="${1:-500}"
if [ -n "${2:-}" ]; then
    export ROLLCALL_KILL9_SEED="$2"
fi
exec nice -n 10 cargo test --release -p rollcall-tests --test kill9 -- --nocapture
