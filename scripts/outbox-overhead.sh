#!/usr/bin/env bash
# What the change-event outbox costs under load (docs/events.md, issue 15): POST /Users (the
# shared bench's scenario 05) and PATCH /Users/{id} (scripts/lib/patch-users.lua), side by
# side in one run, on two servers over copies of one seeded SQLite database:
#
#   before   BASELINE binary: a build without the outbox (e.g. commit 36c45e4)
#   events   this build (every write also appends its events)
#
#   bash scripts/outbox-overhead.sh BASELINE [NEW] [ROUNDS]
#
# NEW defaults to target/release/scimgate, ROUNDS to 3 (the two alternate within each round).
# Limits are off and RUST_LOG=warn, as for every load benchmark (README). Needs wrk. Prints
# one line per run, the per-round ratios and their medians.
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:?usage: outbox-overhead.sh BASELINE [NEW] [ROUNDS]}"
new="${2:-target/release/scimgate}"
rounds="${3:-3}"
root="$PWD"
bench="$root/../shared/bench"
export DURATION="${DURATION:-10s}" CONCURRENCY="${CONCURRENCY:-32}"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() {  # start BINARY DBFILE : sets pid and addr
  local bin="$1" dbf="$2"
  RUST_LOG=warn "$bin" serve --listen 127.0.0.1:0 --database "sqlite://$dbf?mode=rwc" --no-bootstrap \
    --account-rate-limit 0 --account-max-in-flight 0 2>"$work/server.log" &
  pid=$!
  addr=""
  for _ in $(seq 1 200); do
    addr="$(sed -n 's#^scimgate: listening on http://##p' "$work/server.log" | head -1)"
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  cat "$work/server.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# Seed 10,000 users with the baseline binary (the new binary migrates each copy it opens).
token="$("$old" account create bench --admin-email admin@bench.test --database "sqlite://$work/seed.db?mode=rwc" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
start "$old" "$work/seed.db"
python3 - "$addr" "$token" "$work/ids.txt" <<'PY'
import http.client, json, sys, threading
addr, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = addr.rsplit(":", 1)
ids, lock = [], threading.Lock()
def worker(lo, hi):
    c = http.client.HTTPConnection(host, int(port))
    for i in range(lo, hi):
        body = json.dumps({"userName": f"user{i}@example.com", "name": {"givenName": "U", "familyName": str(i)},
                           "emails": [{"value": f"user{i}@example.com", "primary": True}]})
        c.request("POST", "/gateway/ng/api/scim/account/bench/Users", body,
                  {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        r = c.getresponse(); data = r.read()
        assert r.status == 201, r.status
        with lock:
            ids.append(json.loads(data)["id"])
ts = [threading.Thread(target=worker, args=(k * 1250, (k + 1) * 1250)) for k in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
open(out, "w").write("\n".join(ids) + "\n")
PY
stop
echo "# seeded 10,000 users; $(nproc) cores; wrk c=$CONCURRENCY d=$DURATION; $rounds round(s)"

results="$work/results.txt"
for round in $(seq 1 "$rounds"); do
  for cfg in before events; do
    cp "$work/seed.db" "$work/run.db"
    rm -f "$work/run.db-wal" "$work/run.db-shm"
    case "$cfg" in
      before) start "$old" "$work/run.db" ;;
      events) start "$new" "$work/run.db" ;;
    esac
    base="http://$addr/gateway/ng/api/scim/account/bench"
    line="$(RESULTS_FILE="$work/bench.jsonl" bash "$bench/scenarios/05_post_users.sh" "$base" "$token" | tail -1)"
    rps="$(echo "$line" | sed -n 's/.*rps= *\([0-9.]*\).*/\1/p')"
    echo "round $round  $cfg  post   $line"
    echo "$cfg post $rps" >>"$results"
    out="$(SCIM_TOKEN="$token" SCIM_IDS_FILE="$work/ids.txt" wrk -t1 -c"$CONCURRENCY" -d"$DURATION" --timeout 30s \
      -s "$root/scripts/lib/patch-users.lua" "$base/Users" 2>&1)"
    json="$(echo "$out" | sed -n 's/^WRKJSON //p')"
    rps="$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rps"])')"
    p99="$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["lat_p99_ms"])')"
    non2xx="$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')"
    echo "round $round  $cfg  patch  rps=$rps  p99=${p99}ms  non2xx=${non2xx:-0}"
    echo "$cfg patch $rps" >>"$results"
    stop
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
runs = {}
for cfg, sc, rps in rows:
    runs.setdefault((cfg, sc), []).append(float(rps))
for sc in ("post", "patch"):
    b, e = runs[("before", sc)], runs[("events", sc)]
    ratios = [(x / a - 1) * 100 for a, x in zip(b, e)]
    print(f"{sc:<6} median {statistics.median(e):>8.0f} rps with events vs {statistics.median(b):>8.0f} before; "
          "per round " + ", ".join(f"{r:+.1f} %" for r in ratios) + f"; median {statistics.median(ratios):+.1f} %")
PY
