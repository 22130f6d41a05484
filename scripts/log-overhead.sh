#!/usr/bin/env bash
# What the audit log and the SCIM request log cost under load (docs/audit.md, issue 14):
# the filter and POST scenarios of ../shared/bench, side by side in one run, on three
# servers over copies of one seeded SQLite database:
#
#   before   BASELINE binary: a build without either log (e.g. commit 476cf36)
#   audit    this build with --request-log-retention 0 (audit entries only)
#   both     this build as shipped (audit entries and the request log)
#
#   bash scripts/log-overhead.sh BASELINE [NEW] [ROUNDS]
#
# NEW defaults to target/release/scimgate, ROUNDS to 2 (the configurations alternate within
# each round). Limits are off and RUST_LOG=warn, as for every load benchmark (README). Needs
# wrk. Prints one line per run and the median ratios to `before`.
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:?usage: log-overhead.sh BASELINE [NEW] [ROUNDS]}"
new="${2:-target/release/scimgate}"
rounds="${3:-2}"
bench="$PWD/../shared/bench"
export DURATION="${DURATION:-10s}" CONCURRENCY="${CONCURRENCY:-32}"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() {  # start BINARY DBFILE [FLAGS...] : sets pid and addr
  local bin="$1" dbf="$2"; shift 2
  RUST_LOG=warn "$bin" serve --listen 127.0.0.1:0 --database "sqlite://$dbf?mode=rwc" --no-bootstrap \
    --account-rate-limit 0 --account-max-in-flight 0 "$@" 2>"$work/server.log" &
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

# Seed 10,000 users with the baseline binary (its schema is the older one; the new binary
# migrates each copy when it opens it).
token="$("$old" account create bench --admin-email admin@bench.test --database "sqlite://$work/seed.db?mode=rwc" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
start "$old" "$work/seed.db"
python3 - "$addr" "$token" <<'PY'
import http.client, json, sys, threading
addr, token = sys.argv[1], sys.argv[2]
host, port = addr.rsplit(":", 1)
def worker(lo, hi):
    c = http.client.HTTPConnection(host, int(port))
    for i in range(lo, hi):
        body = json.dumps({"userName": f"user{i}@example.com", "name": {"givenName": "U", "familyName": str(i)},
                           "emails": [{"value": f"user{i}@example.com", "primary": True}]})
        c.request("POST", "/gateway/ng/api/scim/account/bench/Users", body,
                  {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
ts = [threading.Thread(target=worker, args=(k * 1250, (k + 1) * 1250)) for k in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
stop
echo "# seeded 10,000 users; $(nproc) cores; wrk c=$CONCURRENCY d=$DURATION; $rounds round(s)"

results="$work/results.txt"
for round in $(seq 1 "$rounds"); do
  for cfg in before audit both; do
    cp "$work/seed.db" "$work/run.db"
    rm -f "$work/run.db-wal" "$work/run.db-shm"
    case "$cfg" in
      before) start "$old" "$work/run.db" ;;
      audit) start "$new" "$work/run.db" --request-log-retention 0 ;;
      both) start "$new" "$work/run.db" ;;
    esac
    base="http://$addr/gateway/ng/api/scim/account/bench"
    for scenario in 02_filter_eq 05_post_users; do
      line="$(RESULTS_FILE="$work/bench.jsonl" bash "$bench/scenarios/$scenario.sh" "$base" "$token" | tail -1)"
      rps="$(echo "$line" | sed -n 's/.*rps= *\([0-9.]*\).*/\1/p')"
      echo "round $round  $cfg  $scenario  $line"
      echo "$cfg $scenario $rps" >>"$results"
    done
    stop
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for cfg, sc, rps in rows:
    med.setdefault((cfg, sc), []).append(float(rps))
for sc in ("02_filter_eq", "05_post_users"):
    b = statistics.median(med[("before", sc)])
    for cfg in ("audit", "both"):
        v = statistics.median(med[(cfg, sc)])
        print(f"{sc:<14} {cfg:<6} median {v:>9.0f} rps vs before {b:>9.0f}: {v / b:.3f}x ({(v / b - 1) * 100:+.1f} %)")
    # The request log's own cost: `both` against `audit` of the same round (the two ran
    # back to back), then the median of the rounds.
    ratios = [(x / a - 1) * 100 for a, x in zip(med[("audit", sc)], med[("both", sc)])]
    print(f"{sc:<14} request log (both vs audit, per round): "
          + ", ".join(f"{r:+.1f} %" for r in ratios) + f"; median {statistics.median(ratios):+.1f} %")
PY
