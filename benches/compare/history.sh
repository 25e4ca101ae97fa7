#!/usr/bin/env bash
# How the cost of `STATES IN c AT T` grows with history: the same fleet of
# clients over longer and longer histories (about 10M, 50M and 200M
# transitions by default), each loaded and compacted, then timed in process.
#
#   benches/compare/history.sh                       # 200k clients, 94/470/1880 days
#   benches/compare/history.sh 200000 "94 470 1880" target/history
#
# Prints one line per history: transitions stored, median and minimum time
# of `STATES IN "All Desktops" AT <one day before the end>`, and what the
# query read (EXPLAIN: rows decoded, checkpoints used).
set -euo pipefail
clients="${1:-200000}"
days_list="${2:-94 470 1880}"
work="${3:-target/history}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --release -p rollcall -p rollcall-benches --bins
bin="$root/target/release"
mkdir -p "$work"
printf '| days | transitions stored | store size | median | min | rows decoded | checkpoints used |\n|---:|---:|---:|---:|---:|---:|---:|\n'
for days in $days_list; do
  dir="$work/$clients-$days"
  if [ ! -f "$dir/transitions.csv" ]; then
    "$bin/fleetgen" --clients "$clients" --days "$days" --out "$dir" >&2
  fi
  if [ ! -d "$dir/rollcall.db" ]; then
    "$bin/rollcall" --db "$dir/rollcall.db" ingest members "$dir/memberships.csv" >&2
    "$bin/rollcall" --db "$dir/rollcall.db" ingest events "$dir/transitions.csv" >&2
    "$bin/rollcall" --db "$dir/rollcall.db" compact >&2
  fi
  now_ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['now_ms'])" "$dir/fleet.json")
  at=$(python3 -c "import datetime,sys; print(datetime.datetime.fromtimestamp(int(sys.argv[1])/1000 - 86400, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$now_ms")
  rql="STATES IN \"All Desktops\" AT $at"
  python3 -c "import json,sys; json.dump([{'name': 'q', 'rql': sys.argv[1]}], open(sys.argv[2], 'w'))" "$rql" "$dir/q.json"
  timing=$("$bin/rctime" --db "$dir/rollcall.db" --runs 9 --queries "$dir/q.json")
  explain=$("$bin/rollcall" --db "$dir/rollcall.db" query --format csv "EXPLAIN $rql")
  stored=$("$bin/rollcall" --db "$dir/rollcall.db" query --format csv "SHOW STATS" \
    | python3 -c "import csv,sys; print({r['name']: r['value'] for r in csv.DictReader(sys.stdin)}['transitions'])")
  size=$(du -sb "$dir/rollcall.db" | cut -f1)
  python3 - "$days" "$stored" "$size" "$timing" "$explain" <<'EOF'
import csv, io, json, sys
days, stored, size, timing, explain = sys.argv[1:6]
t = json.loads(timing)[0]
e = {row["name"]: row["value"] for row in csv.DictReader(io.StringIO(explain))}
print(f"| {days} | {stored} | {int(size) / 1e6:.0f} MB | {t['median_ms']:.2f} ms | {t['min_ms']:.2f} ms "
      f"| {e.get('rows_scanned', '?')} | {e.get('checkpoints_used', '?')} |")
EOF
done
