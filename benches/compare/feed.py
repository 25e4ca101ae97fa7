# Usage: python3 benches/compare/feed.py ROWS_PER_S SECONDS | rollcall --db STORE ingest events - --input-format csv
# Status messages at RATE rows/s for SECONDS: 5% late by up to a day, 0.5% exact duplicates.
import random, sys, time, datetime
RATE, SECONDS = int(sys.argv[1]), int(sys.argv[2])
random.seed(7)
states = ["InProgress", "Compliant", "Failed", "NonCompliant", "Unknown"]
deps = ["production", "preproduction"]
base = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc).timestamp()
out = sys.stdout
out.write("time,client,state,deployment,error\n")
sent, start, recent = 0, time.time(), []
while True:
    el = time.time() - start
    if el >= SECONDS: break
    want = int(el * RATE) + 100
    lines = []
    while sent < want:
        # stream time runs at 60x wall time from 2026-11-01
        t = base + (time.time() - start) * 60
        if random.random() < 0.05: t -= random.random() * 86400
        if recent and random.random() < 0.005:
            lines.append(random.choice(recent)); sent += 1; continue
        st = random.choice(states)
        err = "0x80070005" if st == "Failed" else ""
        ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        line = f"{ts},PC-{random.randrange(1000000):07d},{st},{random.choice(deps)},{err}\n"
        lines.append(line); sent += 1
        if len(recent) < 1000: recent.append(line)
        else: recent[random.randrange(1000)] = line
    out.write("".join(lines)); out.flush()
    time.sleep(0.02)
sys.stderr.write(f"feed: {sent} rows in {time.time()-start:.1f}s\n")
