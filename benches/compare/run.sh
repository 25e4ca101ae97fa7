#!/usr/bin/env bash
# One command for the side-by-side benchmark (rollcall vs DuckDB):
#   benches/compare/run.sh                 # 1M clients, ~50M transitions
#   benches/compare/run.sh --clients 100000 --runs 5
# Needs python3 with venv; installs the pinned DuckDB into benches/compare/.venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
cargo build --release -p rollcall -p rollcall-benches --bins
exec "$here/.venv/bin/python" "$here/compare.py" --bin "$root/target/release" "$@"
