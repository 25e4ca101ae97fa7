# Usage: ROLLCALL=path/to/rollcall bash benches/compare/poll.sh STORE SECONDS > poll.log
# Runs the five headline queries once a second as whole processes; prints "name ms".
R=${ROLLCALL:-target/release/rollcall}; DB=$1; END=$(( $(date +%s) + $2 ))
while [ $(date +%s) -lt $END ]; do
  for q in 'STATES IN "All Desktops" AT NOW|states' 'STATES BY COLLECTION AT NOW|bycoll' 'STATES IN "All Desktops" FROM NOW - 90d TO NOW EVERY 1d|series' 'FAILURES IN "All Desktops" FROM NOW - 7d TO NOW EVERY 1h|failures' 'CLIENTS IN "All Desktops" AT NOW WHERE STATE = Failed LIMIT 10|clients'; do
    s=$(date +%s%N); $R --db $DB query "${q%|*}" --format csv >/dev/null 2>>/tmp/poll.err; e=$(date +%s%N); echo "${q#*|} $(( (e-s)/1000000 ))"
  done; sleep 1
done
