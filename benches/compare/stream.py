#!/usr/bin/env python3
"""Streaming benchmark (issue 13): a store keeps answering fast while status
messages pour in, with no manual compact.

    python3 benches/compare/stream.py --bin target/release --db STORE --seconds 1800

Pipes `feed.py RATE SECONDS` (status messages at RATE rows/s, 5% late by up
to a day, 0.5% exact duplicates) into `rollcall ingest events -`, and runs
`rollcall serve` on the same store, which follows every commit. Once a
second it asks the server the five headline queries (`POST /query`, one
after the other) and records each answer's latency; every 30 s it also runs
them as whole `rollcall query` processes. It samples the writer's RSS and
reads `stats` at the end. Prints p50/p99/max per query, the rate the writer
held, its peak RSS and the bytes per transition left.
"""

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

QUERIES = [
    ("states", 'STATES IN "All Desktops" AT NOW'),
    ("by collection", "STATES BY COLLECTION AT NOW"),
    ("series 90 d", 'STATES IN "All Desktops" FROM 2026-08-04 TO 2026-11-02 EVERY 1d'),
    ("failures 7 d hourly", 'FAILURES IN "All Desktops" FROM 2026-10-27 TO 2026-11-03 EVERY 1h'),
    ("clients", 'CLIENTS IN "All Desktops" AT NOW WHERE STATE = Failed LIMIT 10'),
]


def rss_mb(pid, field="VmRSS"):
    """A memory figure of /proc/PID/status in MB: VmRSS (all resident),
    RssAnon (the process's own) or RssFile (mapped file pages)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, default=Path("target/release"))
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--seconds", type=int, default=1800)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--port", type=int, default=7879)
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args()
    rollcall = str(args.bin / "rollcall")
    here = Path(__file__).resolve().parent

    before = subprocess.run([rollcall, "--db", str(args.db), "stats"], capture_output=True, text=True).stdout
    transitions_before = int(next(l.split()[1] for l in before.splitlines() if l.startswith("transitions")))

    feed = subprocess.Popen([sys.executable, str(here / "feed.py"), str(args.rate), str(args.seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer = subprocess.Popen([rollcall, "--db", str(args.db), "ingest", "events", "-", "--input-format", "csv"],
                              stdin=feed.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feed.stdout.close()
    server = subprocess.Popen([rollcall, "--db", str(args.db), "serve", "--listen", f"127.0.0.1:{args.port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}/query?format=csv"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}/api/version", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)

    peak = {"writer": 0.0, "anon": 0.0, "file": 0.0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["writer"] = max(peak["writer"], rss_mb(writer.pid))
            peak["anon"] = max(peak["anon"], rss_mb(writer.pid, "RssAnon"))
            peak["file"] = max(peak["file"], rss_mb(writer.pid, "RssFile"))
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    served = {n: [] for n, _ in QUERIES}
    procs = {n: [] for n, _ in QUERIES}
    errors = 0
    start = time.time()
    last_proc = 0.0
    while writer.poll() is None:
        tick = time.time()
        for name, rql in QUERIES:
            t0 = time.perf_counter()
            try:
                req = urllib.request.Request(url, data=rql.encode(), method="POST")
                urllib.request.urlopen(req, timeout=30).read()
                served[name].append((time.perf_counter() - t0) * 1000)
            except OSError:
                errors += 1
        if tick - last_proc >= 30:
            last_proc = tick
            for name, rql in QUERIES:
                t0 = time.perf_counter()
                subprocess.run([rollcall, "--db", str(args.db), "query", rql, "--format", "csv"],
                               capture_output=True)
                procs[name].append((time.perf_counter() - t0) * 1000)
        time.sleep(max(0.0, 1.0 - (time.time() - tick)))
    elapsed = time.time() - start
    stop.set()
    server.terminate()
    server.wait()
    feed_err = feed.stderr.read().decode()
    writer_err = writer.stderr.read().decode()
    after = subprocess.run([rollcall, "--db", str(args.db), "stats"], capture_output=True, text=True).stdout
    stats = dict(l.split(None, 1) for l in after.splitlines() if l.strip())
    stored = int(stats["transitions"]) - transitions_before

    lines = [f"Stream: {args.rate} rows/s for {args.seconds} s into `ingest events -` (feed: {feed_err.strip()}); "
             f"writer: {writer_err.strip().splitlines()[-1] if writer_err.strip() else ''}",
             f"{stored:,} transitions stored in {elapsed:.0f} s = {stored / elapsed:,.0f} rows/s held; "
             f"writer peak RSS {peak['writer']:.0f} MB (anonymous {peak['anon']:.0f}, mapped files {peak['file']:.0f}); at the end {stats['bytes_per_transition'].strip()} B/transition, "
             f"{stats['unfolded_rows'].strip()} rows not folded in, {stats['segments'].strip()} segments; "
             f"{errors} failed requests.",
             "",
             "| query | served: p50 | p99 | max | n | whole process: p50 | max | n |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, _ in QUERIES:
        s, p = served[name], procs[name]
        lines.append(f"| {name} | {pct(s, 50):.1f} ms | {pct(s, 99):.1f} ms | {max(s, default=float('nan')):.1f} ms | {len(s)} "
                     f"| {pct(p, 50):.0f} ms | {max(p, default=float('nan')):.0f} ms | {len(p)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results:
        args.results.write_text(text)
    json.dump({"served": served, "procs": procs}, open("/tmp/stream-latencies.json", "w"))


if __name__ == "__main__":
    main()
