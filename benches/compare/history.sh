#!/usr/bin/env bash
# How the cost of incremental maintenance and of a headline query grows with
# history (issue 13): the same fleet of clients over longer and longer
# histories (about 10M, 50M and 200M transitions by default), each loaded
# with `ingest members` + `ingest events` only (automatic maintenance, no
# manual compact). Then, three times, a batch of new status messages (5% late
# by up to a day, the rest in the hour after the end of the history) is
# ingested and folded in by `rollcall compact`, which runs the same
# incremental compaction the writer runs on its own (SPEC 7.8); its wall time
# and peak RSS are what the table reports, with the median of a
# `STATES IN c AT T` query in process afterwards.
#
#   benches/compare/history.sh                       # 200k clients, 94/470/1880 days
#   benches/compare/history.sh 200000 "94 470 1880" target/history 40000
#
# Set BIN=DIR to use binaries built elsewhere (default: build target/release).
set -euo pipefail
clients="${1:-200000}"
days_list="${2:-94 470 1880}"
work="${3:-target/history}"
batch="${4:-40000}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${BIN:-}" ]; then
  cargo build --release -p rollcall -p rollcall-benches --bins
  BIN="$root/target/release"
fi
mkdir -p "$work"
printf '| days | transitions stored | store size | B/transition | load (ingest only) | fold %s rows: median | min | max | peak RSS | `STATES IN c AT T` median |\n' "$batch"
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for days in $days_list; do
  dir="$work/$clients-$days"
  if [ ! -f "$dir/transitions.csv" ]; then
    "$BIN/fleetgen" --clients "$clients" --days "$days" --out "$dir" >&2
  fi
  load="(reused)"
  if [ ! -f "$dir/rollcall.db/READY" ]; then
    rm -rf "$dir/rollcall.db"
    t0=$(date +%s.%N)
    "$BIN/rollcall" --db "$dir/rollcall.db" ingest members "$dir/memberships.csv" >&2
    "$BIN/rollcall" --db "$dir/rollcall.db" ingest events "$dir/transitions.csv" >&2
    load=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f} s')" "$t0" "$(date +%s.%N)")
  fi
  now_ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['now_ms'])" "$dir/fleet.json")
  folds=()
  for round in 1 2 3; do
    # The batch: times from the end of the history on, 5% up to a day late.
    python3 - "$now_ms" "$clients" "$batch" "$round" > "$dir/batch.csv" <<'EOF'
import datetime, random, sys
now_ms, clients, n, round_ = (int(a) for a in sys.argv[1:5])
random.seed(round_)
states = ["InProgress", "Compliant", "Failed", "NonCompliant", "Unknown"]
start = now_ms + (round_ - 1) * 3_600_000
print("time,client,state,deployment,error")
for i in range(n):
    t = start + i * 3_600_000 // n
    if random.random() < 0.05:
        t -= random.randrange(86_400_000)
    st = random.choice(states)
    ts = datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    err = "0x80070005" if st == "Failed" else ""
    print(f"{ts},PC-{random.randrange(clients):07d},{st},{random.choice(['production', 'preproduction'])},{err}")
EOF
    "$BIN/rollcall" --db "$dir/rollcall.db" ingest events "$dir/batch.csv" >&2
    # compact says what it folded (stderr); the time goes to a file.
    /usr/bin/time -f '%e %M' -o "$dir/fold.time" "$BIN/rollcall" --db "$dir/rollcall.db" compact >&2
    folds+=("$(cat "$dir/fold.time")")
  done
  at=$(python3 -c "import datetime,sys; print(datetime.datetime.fromtimestamp(int(sys.argv[1])/1000 - 86400, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$now_ms")
  rql="STATES IN \"All Desktops\" AT $at"
  python3 -c "import json,sys; json.dump([{'name': 'q', 'rql': sys.argv[1]}], open(sys.argv[2], 'w'))" "$rql" "$dir/q.json"
  timing=$("$BIN/rctime" --db "$dir/rollcall.db" --runs 9 --queries "$dir/q.json")
  stored=$("$BIN/rollcall" --db "$dir/rollcall.db" query --format csv "SHOW STATS" \
    | python3 -c "import csv,sys; print({r['name']: r['value'] for r in csv.DictReader(sys.stdin)}['transitions'])")
  size=$(du -sb --exclude=wal "$dir/rollcall.db" | cut -f1)
  python3 - "$days" "$stored" "$size" "$load" "$timing" "${folds[@]}" <<'EOF'
import json, statistics, sys
days, stored, size, load, timing = sys.argv[1:6]
folds = [tuple(float(x) for x in f.split()) for f in sys.argv[6:]]
secs = [s for s, _ in folds]
rss = max(k for _, k in folds) / 1024
t = json.loads(timing)[0]
print(f"| {days} | {int(stored):,} | {int(size) / 1e6:.0f} MB | {int(size) / int(stored):.2f} | {load} "
      f"| {statistics.median(secs):.2f} s | {min(secs):.2f} s | {max(secs):.2f} s | {rss:.0f} MB | {t['median_ms']:.2f} ms |")
EOF
done
