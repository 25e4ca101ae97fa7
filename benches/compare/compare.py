#!/usr/bin/env python3
"""Side-by-side benchmark: rollcall vs DuckDB on the same generated fleet.

Run through ./run.sh (which pins DuckDB in a private venv and builds the
release binaries). Steps:

1. generate the fleet as CSV (fleetgen, deterministic from --seed);
2. load it into rollcall (`rollcall ingest`, durable, then `compact`) and into
   DuckDB (`CREATE TABLE ... AS SELECT` from the same CSV files, with the
   ingest order kept as `seq` and exact duplicates dropped, as SPEC.md says);
3. run every query of the performance issue on both, in this one run: one
   untimed warm-up run (--warmup) then several timed runs each, medians
   (rollcall in-process via `rctime`, DuckDB in-process through its Python
   API); the cold-process figure is measured separately;
4. check both engines return identical rows (CSV text, rollcall's format);
5. print a table of medians and ratios, and write it as Markdown.

Everything is measured on this machine in this run; nothing is copied in.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

STATES = ["NotStarted", "Compliant", "InProgress", "NonCompliant", "Failed", "Unknown"]
DAY = 86_400_000
HOUR = 3_600_000


def fmt_time(ms: int) -> str:
    """RFC 3339 UTC with .sss only when milliseconds are non-zero (SPEC.md 4)."""
    secs, milli = divmod(ms, 1000)
    t = time.gmtime(secs)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    if milli:
        text += f".{milli:03d}"
    return text + "Z"


def fmt_error(code):
    return "" if code is None else f"0x{code:08x}"


def csv_field(v: str) -> str:
    if any(c in v for c in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def to_csv(header, rows) -> str:
    lines = [",".join(header)]
    for r in rows:
        lines.append(",".join(csv_field(str(x)) for x in r))
    return "\n".join(lines) + "\n"


def du(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def peak_rss_mb_of(cmd) -> float:
    """Runs cmd under /usr/bin/time -v when available, returns peak RSS in MB."""
    if not Path("/usr/bin/time").exists():
        return float("nan")
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, check=True)
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- the queries

def queries(now_ms: int, collection: str):
    """(name, RQL, DuckDB SQL on the loaded tables, DuckDB SQL on the integer
    tables) for every row of the performance issue."""
    at = now_ms - DAY
    series_from = now_ms - 90 * DAY
    fail_from = now_ms - 30 * DAY
    t = fmt_time
    return [
        ("STATES IN c AT T", f'STATES IN "{collection}" AT {t(at)}', lambda con: duck_states_in(con, collection, at),
         lambda con: int_states_in(con, collection, at), lambda con: packed_states_in(con, collection, at)),
        ("STATES BY COLLECTION AT T", f"STATES BY COLLECTION AT {t(at)}", lambda con: duck_states_by_collection(con, at),
         lambda con: int_states_by_collection(con, at), lambda con: packed_states_by_collection(con, at)),
        (
            "STATES IN c EVERY 1d (90 points)",
            f'STATES IN "{collection}" FROM {t(series_from)} TO {t(now_ms)} EVERY 1d',
            lambda con: duck_series(con, collection, series_from, now_ms, DAY),
            lambda con: int_series(con, collection, series_from, now_ms, DAY),
        ),
        (
            "FAILURES IN c 30d EVERY 1h",
            f'FAILURES IN "{collection}" FROM {t(fail_from)} TO {t(now_ms)} EVERY 1h',
            lambda con: duck_failures_in(con, collection, fail_from, now_ms, HOUR),
            lambda con: int_failures_in(con, collection, fail_from, now_ms, HOUR),
        ),
        (
            "FAILURES 90d EVERY 1d BY ERROR",
            f"FAILURES FROM {t(series_from)} TO {t(now_ms)} EVERY 1d BY ERROR",
            lambda con: duck_failures_by_error(con, series_from, now_ms, DAY),
            lambda con: int_failures_by_error(con, series_from, now_ms, DAY),
        ),
        (
            "CLIENTS IN c AT T WHERE STATE = Failed",
            f'CLIENTS IN "{collection}" AT {t(at)} WHERE STATE = Failed',
            lambda con: duck_failed_clients(con, collection, at),
            lambda con: int_failed_clients(con, collection, at),
            lambda con: packed_failed_clients(con, collection, at),
        ),
    ]


# Membership as of T, per (collection, client): the latest change with
# time <= T wins, ties broken by ingest order (seq).
MEMBERS_AT = """
    SELECT client FROM memberships
    WHERE collection = $coll AND time <= $at
    GROUP BY client
    HAVING arg_max(change, (time, seq)) = 'join'
"""

LATEST_AT = """
    SELECT client, arg_max(state, (time, seq)) AS state, max(time) AS since
    FROM transitions
    WHERE deployment = 'production' AND time <= $at
    GROUP BY client
"""


def pivot(rows):
    counts = {s: 0 for s in STATES}
    for state, n in rows:
        counts[state] = n
    return [counts[s] for s in STATES] + [sum(counts.values())]


def duck_states_in(con, coll, at):
    rows = con.execute(
        f"""
        WITH members AS ({MEMBERS_AT}),
             latest AS ({LATEST_AT.replace("GROUP BY client", "AND client IN (SELECT client FROM members) GROUP BY client")})
        SELECT coalesce(l.state, 'NotStarted') AS state, count(*)
        FROM members m LEFT JOIN latest l USING (client)
        GROUP BY ALL
        """,
        {"coll": coll, "at": at},
    ).fetchall()
    return to_csv(["time"] + STATES + ["total"], [[fmt_time(at)] + pivot(rows)])


def duck_states_by_collection(con, at):
    rows = con.execute(
        f"""
        WITH members AS (
                SELECT collection, client FROM memberships WHERE time <= $at
                GROUP BY collection, client
                HAVING arg_max(change, (time, seq)) = 'join'),
             latest AS ({LATEST_AT})
        SELECT m.collection, coalesce(l.state, 'NotStarted') AS state, count(*)
        FROM members m LEFT JOIN latest l USING (client)
        GROUP BY ALL
        """,
        {"at": at},
    ).fetchall()
    names = [r[0] for r in con.execute("SELECT DISTINCT collection FROM memberships").fetchall()]
    return by_collection_csv(names, rows, pivot)


def by_collection_csv(names, rows, pivot_of):
    """`STATES BY COLLECTION` CSV from (collection, state, count) rows: one
    row per collection in `names` (bytewise order), states pivoted by
    `pivot_of`."""
    per = {n: [] for n in names}
    for coll, state, n in rows:
        per[coll].append((state, n))
    out = [[n] + pivot_of(per[n]) for n in sorted(names, key=lambda s: s.encode())]
    return to_csv(["collection"] + STATES + ["total"], out)


def duck_series(con, coll, start, end, every):
    # One ASOF join per (point, member): the member's latest transition at or
    # before the point. ASOF has no tie-breaker, so the join key folds seq in.
    rows = con.execute(
        """
        WITH points AS (
                SELECT unnest(range($start, $end, $every)) AS t),
             mchanges AS (
                SELECT client, time, seq, change FROM memberships WHERE collection = $coll),
             members AS (
                SELECT p.t, c.client FROM points p JOIN mchanges c ON c.time <= p.t
                GROUP BY p.t, c.client
                HAVING arg_max(c.change, (c.time, c.seq)) = 'join'),
             tr AS (
                SELECT client, time::HUGEINT * 134217728 + seq AS k, state FROM transitions
                WHERE deployment = 'production'
                  AND client IN (SELECT client FROM mchanges)),
             probe AS (
                SELECT t, client, t::HUGEINT * 134217728 + 134217727 AS k FROM members)
        SELECT p.t, coalesce(tr.state, 'NotStarted') AS state, count(*)
        FROM probe p ASOF LEFT JOIN tr ON p.client = tr.client AND p.k >= tr.k
        GROUP BY ALL
        """,
        {"coll": coll, "start": start, "end": end, "every": every},
    ).fetchall()
    per = {}
    for t, state, n in rows:
        per.setdefault(t, []).append((state, n))
    out = [[fmt_time(t)] + pivot(per.get(t, [])) for t in range(start, end, every)]
    return to_csv(["time"] + STATES + ["total"], out)


def duck_failures_in(con, coll, start, end, every):
    rows = con.execute(
        """
        WITH f AS (
                SELECT client, time, time::HUGEINT * 134217728 + 134217727 AS k FROM transitions
                WHERE deployment = 'production' AND state = 'Failed' AND time >= $start AND time < $end),
             m AS (
                SELECT client, time::HUGEINT * 134217728 + seq AS k, change FROM memberships
                WHERE collection = $coll)
        SELECT ($start + (f.time - $start) // $every * $every) AS bucket, count(*)
        FROM f ASOF JOIN m ON f.client = m.client AND f.k >= m.k
        WHERE m.change = 'join'
        GROUP BY ALL
        """,
        {"coll": coll, "start": start, "end": end, "every": every},
    ).fetchall()
    per = dict(rows)
    out = [[fmt_time(b), per.get(b, 0)] for b in range(start, end, every)]
    return to_csv(["bucket", "failures"], out)


def duck_failures_by_error(con, start, end, every):
    rows = con.execute(
        """
        SELECT ($start + (time - $start) // $every * $every) AS bucket, error, count(*) AS n
        FROM transitions
        WHERE deployment = 'production' AND state = 'Failed' AND time >= $start AND time < $end
        GROUP BY ALL
        ORDER BY bucket, n DESC, error ASC NULLS FIRST
        """,
        {"start": start, "end": end, "every": every},
    ).fetchall()
    return to_csv(["bucket", "error", "failures"], [[fmt_time(b), fmt_error(e), n] for b, e, n in rows])


def duck_failed_clients(con, coll, at):
    rows = con.execute(
        f"""
        WITH members AS ({MEMBERS_AT}),
             latest AS ({LATEST_AT.replace("GROUP BY client", "AND client IN (SELECT client FROM members) GROUP BY client")})
        SELECT m.client, l.since
        FROM members m JOIN latest l USING (client)
        WHERE l.state = 'Failed'
        """,
        {"coll": coll, "at": at},
    ).fetchall()
    rows.sort(key=lambda r: r[0].encode())
    return to_csv(["client", "state", "since"], [[c, "Failed", fmt_time(s)] for c, s in rows])


# ------------------------------------------------- integer-id formulations
#
# The same questions on tables prepared once after loading (`duck_prepare`):
# clients as dense integers, states as their SPEC index, and one BIGINT
# rank per row ordering by (time, seq), so "latest" is a plain arg_max over
# an integer instead of a struct, and joins hash integers, not strings.

INT_MEMBERS_AT = """
    SELECT cid FROM mb
    WHERE collection = $coll AND time <= $at
    GROUP BY cid
    HAVING arg_max(joined, rk)
"""

INT_LATEST_AT = """
    SELECT cid, arg_max(st, rk) AS st, max(time) AS since
    FROM tr
    WHERE deployment = 'production' AND time <= $at {extra}
    GROUP BY cid
"""


def int_pivot(rows):
    return pivot([(STATES[st], n) for st, n in rows])


def int_states_in(con, coll, at):
    rows = con.execute(
        f"""
        WITH members AS ({INT_MEMBERS_AT}),
             latest AS ({INT_LATEST_AT.format(extra="AND cid IN (SELECT cid FROM members)")})
        SELECT coalesce(l.st, 0) AS st, count(*)
        FROM members m LEFT JOIN latest l USING (cid)
        GROUP BY ALL
        """,
        {"coll": coll, "at": at},
    ).fetchall()
    return to_csv(["time"] + STATES + ["total"], [[fmt_time(at)] + int_pivot(rows)])


def int_states_by_collection(con, at):
    rows = con.execute(
        f"""
        WITH members AS (
                SELECT collection, cid FROM mb WHERE time <= $at
                GROUP BY collection, cid
                HAVING arg_max(joined, rk)),
             latest AS ({INT_LATEST_AT.format(extra="")})
        SELECT m.collection, coalesce(l.st, 0) AS st, count(*)
        FROM members m LEFT JOIN latest l USING (cid)
        GROUP BY ALL
        """,
        {"at": at},
    ).fetchall()
    names = [r[0] for r in con.execute("SELECT DISTINCT collection FROM mb").fetchall()]
    return by_collection_csv(names, rows, int_pivot)


def int_series(con, coll, start, end, every):
    # As duck_series, on integer clients; the ASOF key folds the (time, seq)
    # rank so ties at one millisecond go to the later row.
    rows = con.execute(
        """
        WITH points AS (
                SELECT unnest(range($start, $end, $every)) AS t),
             mchanges AS (
                SELECT cid, time, rk, joined FROM mb WHERE collection = $coll),
             members AS (
                SELECT p.t, c.cid FROM points p JOIN mchanges c ON c.time <= p.t
                GROUP BY p.t, c.cid
                HAVING arg_max(c.joined, c.rk)),
             t AS (
                SELECT cid, time::HUGEINT * 134217728 + rk AS k, st FROM tr
                WHERE deployment = 'production'
                  AND cid IN (SELECT cid FROM mchanges)),
             probe AS (
                SELECT t, cid, t::HUGEINT * 134217728 + 134217727 AS k FROM members)
        SELECT p.t, coalesce(t.st, 0) AS st, count(*)
        FROM probe p ASOF LEFT JOIN t ON p.cid = t.cid AND p.k >= t.k
        GROUP BY ALL
        """,
        {"coll": coll, "start": start, "end": end, "every": every},
    ).fetchall()
    per = {}
    for t, st, n in rows:
        per.setdefault(t, []).append((st, n))
    out = [[fmt_time(t)] + int_pivot(per.get(t, [])) for t in range(start, end, every)]
    return to_csv(["time"] + STATES + ["total"], out)


def int_failures_in(con, coll, start, end, every):
    rows = con.execute(
        """
        WITH f AS (
                SELECT cid, time, time::HUGEINT * 134217728 + 134217727 AS k FROM tr
                WHERE deployment = 'production' AND st = 4 AND time >= $start AND time < $end),
             m AS (
                SELECT cid, time::HUGEINT * 134217728 + rk AS k, joined FROM mb
                WHERE collection = $coll)
        SELECT ($start + (f.time - $start) // $every * $every) AS bucket, count(*)
        FROM f ASOF JOIN m ON f.cid = m.cid AND f.k >= m.k
        WHERE m.joined
        GROUP BY ALL
        """,
        {"coll": coll, "start": start, "end": end, "every": every},
    ).fetchall()
    per = dict(rows)
    out = [[fmt_time(b), per.get(b, 0)] for b in range(start, end, every)]
    return to_csv(["bucket", "failures"], out)


def int_failures_by_error(con, start, end, every):
    rows = con.execute(
        """
        SELECT ($start + (time - $start) // $every * $every) AS bucket, error, count(*) AS n
        FROM tr
        WHERE deployment = 'production' AND st = 4 AND time >= $start AND time < $end
        GROUP BY ALL
        ORDER BY bucket, n DESC, error ASC NULLS FIRST
        """,
        {"start": start, "end": end, "every": every},
    ).fetchall()
    return to_csv(["bucket", "error", "failures"], [[fmt_time(b), fmt_error(e), n] for b, e, n in rows])


def int_failed_clients(con, coll, at):
    rows = con.execute(
        f"""
        WITH members AS ({INT_MEMBERS_AT}),
             latest AS ({INT_LATEST_AT.format(extra="AND cid IN (SELECT cid FROM members)")})
        SELECT n.name, l.since
        FROM members m JOIN latest l USING (cid) JOIN cnames n USING (cid)
        WHERE l.st = 4
        """,
        {"coll": coll, "at": at},
    ).fetchall()
    rows.sort(key=lambda r: r[0].encode())
    return to_csv(["client", "state", "since"], [[c, "Failed", fmt_time(s)] for c, s in rows])


# ------------------------------------------------- packed-key formulations
#
# The fastest SQL known for "latest state at T" (issue 13): one BIGINT key
# per row, rank * 8 + state, where the rank orders rows by (time, seq) (it
# packs the tie-breaking seq in), so the latest state is max(key) % 8, a
# plain integer aggregate; membership the same with rank * 2 + joined. The
# tables are sorted by (state, time), as measured in the issue.

# Every client's latest production row at $at, without a semi-join on the
# collection's members: on the 1M fleet, `cid IN (SELECT cid FROM members)`
# made the aggregate slower (1.77 s against 1.11 s for STATES IN c AT T).
PACKED_LATEST_AT = """
    SELECT cid, {value} FROM trp
    WHERE deployment = 'production' AND time <= $at
    GROUP BY cid
"""

PACKED_MEMBERS_AT = """
    SELECT cid FROM mbp
    WHERE collection = $coll AND time <= $at
    GROUP BY cid
    HAVING max(key) % 2 = 1
"""


def packed_states_in(con, coll, at):
    rows = con.execute(
        f"""
        WITH members AS ({PACKED_MEMBERS_AT}),
             latest AS ({PACKED_LATEST_AT.format(value="max(key) % 8 AS st")})
        SELECT coalesce(l.st, 0) AS st, count(*)
        FROM members m LEFT JOIN latest l USING (cid)
        GROUP BY ALL
        """,
        {"coll": coll, "at": at},
    ).fetchall()
    return to_csv(["time"] + STATES + ["total"], [[fmt_time(at)] + int_pivot(rows)])


def packed_states_by_collection(con, at):
    rows = con.execute(
        f"""
        WITH members AS (
                SELECT collection, cid FROM mbp WHERE time <= $at
                GROUP BY collection, cid
                HAVING max(key) % 2 = 1),
             latest AS ({PACKED_LATEST_AT.format(value="max(key) % 8 AS st")})
        SELECT m.collection, coalesce(l.st, 0) AS st, count(*)
        FROM members m LEFT JOIN latest l USING (cid)
        GROUP BY ALL
        """,
        {"at": at},
    ).fetchall()
    names = [r[0] for r in con.execute("SELECT DISTINCT collection FROM mbp").fetchall()]
    return by_collection_csv(names, rows, int_pivot)


def packed_failed_clients(con, coll, at):
    rows = con.execute(
        f"""
        WITH members AS ({PACKED_MEMBERS_AT}),
             latest AS ({PACKED_LATEST_AT.format(value="max(key) AS k")})
        SELECT n.name, t.time
        FROM members m JOIN latest l USING (cid) JOIN trp t ON t.key = l.k JOIN cnames n ON n.cid = l.cid
        WHERE l.k % 8 = 4
        """,
        {"coll": coll, "at": at},
    ).fetchall()
    rows.sort(key=lambda r: r[0].encode())
    return to_csv(["client", "state", "since"], [[c, "Failed", fmt_time(s)] for c, s in rows])


def duck_prepare(con):
    """The integer tables, built from the loaded ones (timed apart from the load)."""
    states = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATES))
    con.execute(
        """
        CREATE TABLE cnames AS
        SELECT (row_number() OVER (ORDER BY name) - 1)::INTEGER AS cid, name
        FROM (SELECT client AS name FROM transitions UNION SELECT client FROM memberships)
        """
    )
    con.execute(
        f"""
        CREATE TABLE tr AS
        SELECT n.cid, t.time, row_number() OVER (ORDER BY t.time, t.seq) AS rk,
               t.deployment, (CASE t.state {states} END)::UTINYINT AS st, t.error
        FROM transitions t JOIN cnames n ON n.name = t.client
        ORDER BY t.time, t.seq
        """
    )
    con.execute(
        """
        CREATE TABLE mb AS
        SELECT n.cid, m.time, row_number() OVER (ORDER BY m.time, m.seq) AS rk,
               m.collection, (m.change = 'join') AS joined
        FROM memberships m JOIN cnames n ON n.name = m.client
        ORDER BY m.collection, m.time, m.seq
        """
    )
    con.execute(
        """
        CREATE TABLE trp AS
        SELECT cid, time, deployment, rk * 8 + st AS key FROM tr ORDER BY st, time
        """
    )
    con.execute(
        """
        CREATE TABLE mbp AS
        SELECT cid, time, collection, rk * 2 + joined::INTEGER AS key FROM mb ORDER BY collection, time
        """
    )
    con.execute("CHECKPOINT")


# ---------------------------------------------------------------- loading

def duck_load(con, tpath: Path, mpath: Path):
    # seq = position in the input (ingest order); transitions come after
    # memberships only in rollcall's seq space, but seqs are compared only
    # within one table here, so per-table order is enough.
    con.execute(
        f"""
        CREATE TABLE transitions AS
        SELECT time, client, state, deployment, error, seq FROM (
            SELECT epoch_ms(time::TIMESTAMPTZ) AS time, client,
                   CASE lower(replace(replace(state, ' ', ''), '_', ''))
                     WHEN 'notstarted' THEN 'NotStarted' WHEN 'compliant' THEN 'Compliant'
                     WHEN 'inprogress' THEN 'InProgress' WHEN 'noncompliant' THEN 'NonCompliant'
                     WHEN 'failed' THEN 'Failed' ELSE 'Unknown' END AS state,
                   coalesce(nullif(deployment, ''), 'production') AS deployment,
                   CASE WHEN error IS NULL OR error = '' THEN NULL
                        WHEN lower(error) LIKE '0x%' THEN ('0x' || substr(error, 3))::UBIGINT::UINTEGER
                        ELSE error::UINTEGER END AS error,
                   row_number() OVER () AS seq
            FROM read_csv('{tpath}', header = true, all_varchar = true))
        QUALIFY row_number() OVER (PARTITION BY time, client, state, deployment, error ORDER BY seq) = 1
        """
    )
    con.execute(
        f"""
        CREATE TABLE memberships AS
        SELECT time, client, collection, change, seq FROM (
            SELECT epoch_ms(time::TIMESTAMPTZ) AS time, client, collection, lower(change) AS change,
                   row_number() OVER () AS seq
            FROM read_csv('{mpath}', header = true, all_varchar = true))
        QUALIFY row_number() OVER (PARTITION BY time, client, collection, change ORDER BY seq) = 1
        """
    )
    con.execute("CHECKPOINT")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, default=Path("target/compare"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each query before the timed ones, both engines")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bin", type=Path, default=Path("target/release"))
    ap.add_argument("--collection", default="All Desktops")
    ap.add_argument("--results", type=Path, default=None, help="write the Markdown table here")
    ap.add_argument("--keep-data", action="store_true", help="reuse generated CSV and loaded stores")
    ap.add_argument("--no-compact", action="store_true",
                    help="load rollcall with ingest only (its automatic maintenance), no manual compact")
    args = ap.parse_args()

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    tcsv, mcsv = work / "transitions.csv", work / "memberships.csv"
    rollcall = args.bin / "rollcall"
    db = work / "rollcall.db"
    duck_path = work / "fleet.duckdb"

    if not (args.keep_data and tcsv.exists()):
        run([args.bin / "fleetgen", "--clients", str(args.clients), "--seed", str(args.seed), "--out", work])
    meta = json.loads((work / "fleet.json").read_text())
    now_ms = meta["now_ms"]
    rows_in = meta["transitions"]

    results = {}
    # ---- rollcall load
    if not (args.keep_data and db.exists()):
        subprocess.run(["rm", "-rf", str(db), str(duck_path)], check=True)
        t0 = time.perf_counter()
        run([rollcall, "--db", db, "ingest", "members", mcsv])
        t1 = time.perf_counter()
        run([rollcall, "--db", db, "ingest", "events", tcsv])
        t2 = time.perf_counter()
        if not args.no_compact:
            run([rollcall, "--db", db, "compact"])
        t3 = time.perf_counter()
        results["load"] = {"members_s": t1 - t0, "events_s": t2 - t1, "compact_s": t3 - t2}
    # ---- duckdb load
    if not (args.keep_data and duck_path.exists()):
        con = duckdb.connect(str(duck_path))
        con.execute(f"SET threads = {args.threads}")
        t0 = time.perf_counter()
        duck_load(con, tcsv, mcsv)
        results.setdefault("load", {})["duck_s"] = time.perf_counter() - t0
        con.close()

    con = duckdb.connect(str(duck_path))
    con.execute(f"SET threads = {args.threads}")
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'trp'").fetchone()[0]:
        for t in ["cnames", "tr", "mb"]:
            con.execute(f"DROP TABLE IF EXISTS {t}")
        t0 = time.perf_counter()
        duck_prepare(con)
        results.setdefault("load", {})["duck_prep_s"] = time.perf_counter() - t0
    con.close()
    con = duckdb.connect(str(duck_path), read_only=True)
    con.execute(f"SET threads = {args.threads}")
    stored = con.execute("SELECT count(*) FROM transitions").fetchone()[0]

    qs = queries(now_ms, args.collection)
    # ---- rollcall queries, in process
    rq_in = work / "queries.json"
    rq_in.write_text(json.dumps([{"name": n, "rql": q} for n, q, *_ in qs]))
    p = run([args.bin / "rctime", "--db", db, "--runs", str(args.runs), "--warmup", str(args.warmup),
             "--queries", rq_in], capture_output=True, text=True)
    rc = {r["name"]: r for r in json.loads(p.stdout)}

    table = []
    mismatches = 0
    for name, rql, *variants in qs:
        # Every formulation is timed and checked; the fastest is reported.
        r = rc[name]
        best = None
        for label, duck in zip(["string tables", "integer tables", "packed keys"], variants):
            times = []
            out = None
            for _ in range(args.warmup):
                duck(con)
            for _ in range(args.runs):
                t0 = time.perf_counter()
                out = duck(con)
                times.append((time.perf_counter() - t0) * 1000)
            ms = statistics.median(times)
            print(f"DuckDB {name} on {label}: {ms:.1f} ms, same rows: {out == r['csv']}", file=sys.stderr)
            if out != r["csv"]:
                (work / f"mismatch-{len(table)}-{label.split()[0]}-duckdb.csv").write_text(out)
            # Prefer formulations that agree with rollcall, then the fastest.
            key = (out != r["csv"], ms)
            if best is None or key < best[0]:
                best = (key, ms, out, label)
        _, d_ms, out, label = best
        name = f"{name}" if label == "string tables" else f"{name} (DuckDB: {label})"
        same = r["csv"] == out
        if not same:
            mismatches += 1
            (work / f"mismatch-{len(table)}-rollcall.csv").write_text(r["csv"])
            (work / f"mismatch-{len(table)}-duckdb.csv").write_text(out)
        procs = []
        for _ in range(3):
            t0 = time.perf_counter()
            run([rollcall, "--db", db, "query", "--format", "csv", rql], capture_output=True)
            procs.append((time.perf_counter() - t0) * 1000)
        table.append((name, r["median_ms"], d_ms, d_ms / max(r["median_ms"], 1e-9), same, min(procs)))

    # ---- cold open + first query, as a fresh process
    cold = []
    for _ in range(max(3, args.runs // 2)):
        t0 = time.perf_counter()
        run([rollcall, "--db", db, "query", "--format", "csv", qs[0][1]], capture_output=True)
        cold.append((time.perf_counter() - t0) * 1000)
    rss = peak_rss_mb_of([str(rollcall), "--db", str(db), "query", "--format", "csv", qs[1][1]])

    size_rc = du(db)
    size_duck = duck_path.stat().st_size
    load = results.get("load", {})
    lines = []
    lines.append(f"Data: {args.clients:,} clients, {rows_in:,} transition rows generated, {stored:,} stored after "
                 f"dropping exact duplicates; seed {args.seed}; {args.warmup} untimed warm-up and {args.runs} timed runs per query, medians; "
                 f"DuckDB {duckdb.__version__} with {args.threads} threads.")
    lines.append("")
    lines.append(f"rollcall {'loaded by ingest alone (automatic maintenance, no compact)' if args.no_compact else 'compacted after ingest'}.")
    lines.append("")
    lines.append("| work | rollcall | rollcall, whole process (best of 3) | DuckDB | DuckDB / rollcall | same rows |")
    lines.append("|---|---:|---:|---:|---:|---|")
    for name, r_ms, d_ms, ratio, same, p_ms in table:
        lines.append(f"| `{name}` | {r_ms:.2f} ms | {p_ms:.0f} ms | {d_ms:.1f} ms | {ratio:.0f}x | {'yes' if same else 'NO'} |")
    if "events_s" in load:
        rate = rows_in / load["events_s"]
        lines.append(f"| ingest transitions CSV (durable) | {load['events_s']:.1f} s = {rate / 1e6:.2f} M rows/s "
                     f"(+ members {load['members_s']:.1f} s, compact {load['compact_s']:.1f} s) | | "
                     f"{load.get('duck_s', float('nan')):.1f} s (both tables; integer tables "
                     f"{load.get('duck_prep_s', float('nan')):.1f} s more) | | |")
    lines.append(f"| size on disk | {size_rc / 1e6:.1f} MB = {size_rc / stored:.2f} B/transition | | "
                 f"{size_duck / 1e6:.1f} MB = {size_duck / stored:.2f} B/transition | | |")
    lines.append(f"| cold process: open + first query | {statistics.median(cold):.0f} ms | | | | |")
    lines.append(f"| peak RSS, `STATES BY COLLECTION` process | {rss:.0f} MB | | | | |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results:
        args.results.write_text(text)
    if mismatches:
        print(f"{mismatches} queries returned different rows; see {work}/mismatch-*", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
