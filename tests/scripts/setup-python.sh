#!/usr/bin/env bash
# Creates the Python venv that tests/tests/export_translate.rs runs the
# translated SQL in: DuckDB and chDB (in-process ClickHouse), pinned in
# tests/scripts/requirements.txt.
#
#   bash tests/scripts/setup-python.sh            # venv in target/pyenv
#   bash tests/scripts/setup-python.sh DIR        # venv in DIR (then export ROLLCALL_PYTHON=DIR/bin/python)
#
# Idempotent: an existing venv is reused and pip only installs what is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${1:-$root/target/pyenv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/scripts/requirements.txt"
"$venv/bin/python" -c 'import duckdb, chdb; print("export/translate test engines: duckdb", duckdb.__version__, "chdb", chdb.__version__)'
