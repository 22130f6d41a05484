#!/usr/bin/env bash
# The quiet account's latency with and without a noisy one on the same node (docs/abuse.md,
# issue 14): a real server with the per-account limits ON, two accounts, wrk on loopback.
#
#   bash scripts/noisy-neighbour.sh [BINARY] [SECONDS]
#
# BINARY defaults to target/release/scimgate (cargo build --release --bin scimgate), SECONDS
# to 10 per phase. The quiet account sends 100 requests a second, paced, on one keep-alive
# connection (well under its limit, as a provisioning client does). Phase 1: alone. Phase 2:
# while the noisy account sends as fast as 32 connections can (wrk -c32), far over its rate
# limit. Prints the quiet account's p50, p99 and refusals in both phases, and the noisy
# account's requests/s and non-2xx (429) count. Needs wrk (Debian package wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/scimgate}"
secs="${2:-10}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }
[ -x "$bin" ] || { echo "no $bin: cargo build --release --bin scimgate"; exit 2; }
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
db="sqlite://$work/noisy.db?mode=rwc"
tok() { "$bin" account create "$1" --admin-email "admin@$1.test" --database "$db" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
quiet="$(tok quiet)"
noisy="$(tok noisy)"
RUST_LOG=warn "$bin" serve --listen 127.0.0.1:0 --database "$db" --no-bootstrap \
  --account-rate-limit 200 --account-rate-burst 200 --request-log-retention 0 2>"$work/server.log" &
pid=$!
addr=""
for _ in $(seq 1 100); do
  addr="$(sed -n 's#^scimgate: listening on http://##p' "$work/server.log" | head -1)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$work/server.log"; exit 1; }
url() { echo "http://$addr/gateway/ng/api/scim/account/$1/Users?count=10"; }
# A few users in each account, so a page is a real page.
for a in quiet noisy; do
  t="$quiet"; [ "$a" = noisy ] && t="$noisy"
  for i in $(seq 1 20); do
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $t" -H 'Content-Type: application/scim+json' \
      -d "{\"userName\":\"u$i@$a.test\"}" "http://$addr/gateway/ng/api/scim/account/$a/Users"
  done
done
report() {  # report LABEL FILE
  python3 - "$1" "$2" <<'PY'
import re, sys
label, path = sys.argv[1], sys.argv[2]
text = open(path).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", text, re.M))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{label:<28} {float(rps):>9.0f} req/s  p50 {lat.get('50', '?'):>8}  p99 {lat.get('99', '?'):>8}"
      f"  non-2xx {bad.group(1) if bad else 0}")
PY
}
quiet_run() {  # quiet_run LABEL : 100 paced requests a second for SECONDS
  python3 - "$1" "$addr" "$quiet" "$secs" <<'PY'
import http.client, statistics, sys, time
label, addr, token, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
lat, bad, n = [], 0, int(secs * 100)
start = time.perf_counter()
for i in range(n):
    wait = start + i / 100 - time.perf_counter()
    if wait > 0:
        time.sleep(wait)
    t = time.perf_counter()
    c.request("GET", "/gateway/ng/api/scim/account/quiet/Users?count=10", headers={"Authorization": f"Bearer {token}"})
    r = c.getresponse(); r.read()
    lat.append((time.perf_counter() - t) * 1000)
    bad += r.status != 200
q = statistics.quantiles(lat, n=100)
print(f"{label:<28} {n} requests  p50 {q[49]:6.2f} ms  p99 {q[98]:6.2f} ms  refused or failed {bad}")
PY
}
echo "# $(nproc) cores, limits on: --account-rate-limit 200 --account-rate-burst 200 (in-flight 32)"
quiet_run "quiet account alone"
wrk -t1 -c32 -d"$((secs + 2))s" --latency -H "Authorization: Bearer $noisy" "$(url noisy)" >"$work/noisy.txt" &
noise=$!
sleep 1
quiet_run "quiet account, noisy beside"
wait "$noise"
report "noisy account (over limit)" "$work/noisy.txt"
