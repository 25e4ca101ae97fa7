#!/usr/bin/env python3
"""Runs translated SQL on DuckDB and on chDB (in-process ClickHouse) and
compares every result row for row with rollcall's own CSV output.

Used by tests/tests/export_translate.rs; runnable by hand:

    python compare_sql.py cases.json

cases.json: {"cases": [{"name": ..., "rql": ..., "expected_csv": ...,
                        "sql": {"duckdb": ..., "clickhouse": ...}}, ...]}
("expected_csv" may also be an object keyed by engine, for statements
whose expected answer depends on the instant NOW was read at.)

Prints one JSON object on stdout:
    {"engines": {"duckdb": "2.0.1", "clickhouse": "4.4.0"},
     "results": [{"name", "engine", "ok", "rows", "detail"}...]}
and exits 0 when it could run the engines (mismatches are reported, not
exit codes), 3 when an engine's Python package is missing.

Values compare as rollcall prints them in CSV: NULL is the empty string,
numbers are their decimal text; the header row compares too.
"""

import csv
import io
import json
import sys


def as_text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def run_duckdb(sql):
    import duckdb

    con = duckdb.connect()
    try:
        cur = con.execute(sql)
        header = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    return [header] + [[as_text(v) for v in r] for r in rows]


def run_chdb(sql):
    import chdb

    # JSONCompact keeps NULL apart from the empty string; 64-bit integers
    # arrive as strings, which is how they compare anyway.
    res = chdb.query(sql, "JSONCompact")
    raw = res.bytes() if hasattr(res, "bytes") else bytes(str(res), "utf-8")
    if not raw.strip():
        raise RuntimeError("chDB returned no output (an empty result has a header)")
    doc = json.loads(raw)
    header = [m["name"] for m in doc["meta"]]
    return [header] + [[as_text(v) for v in r] for r in doc["data"]]


def first_difference(expected, actual):
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e != a:
            return f"row {i} (0 = header): expected {e!r}, got {a!r}"
    if len(expected) != len(actual):
        return f"expected {len(expected)} rows (with header), got {len(actual)}"
    return None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    engines = {}
    try:
        import duckdb

        engines["duckdb"] = (duckdb.__version__, run_duckdb)
    except ImportError as e:
        print(f"missing Python package: {e}", file=sys.stderr)
        return 3
    try:
        import chdb

        engines["clickhouse"] = (chdb.__version__, run_chdb)
    except ImportError as e:
        print(f"missing Python package: {e}", file=sys.stderr)
        return 3
    results = []
    for case in cases:
        for engine, (_, runner) in engines.items():
            sql = case["sql"].get(engine)
            if sql is None:
                continue
            want = case["expected_csv"]
            if isinstance(want, dict):
                want = want[engine]
            expected = list(csv.reader(io.StringIO(want)))
            try:
                actual = runner(sql)
                detail = first_difference(expected, actual)
            except Exception as e:  # noqa: BLE001 - every failure is a test result
                actual, detail = [], f"{type(e).__name__}: {e}"
            results.append(
                {
                    "name": case["name"],
                    "engine": engine,
                    "ok": detail is None,
                    "rows": max(len(actual) - 1, 0),
                    "detail": detail,
                }
            )
    print(json.dumps({"engines": {k: v[0] for k, v in engines.items()}, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
