#!/usr/bin/env python3
"""How scimgate's costs grow with the account (docs/performance.md, issue 16).

Starts `scimgate serve` on a fresh SQLite database (or PostgreSQL with --database), makes two
accounts, grows `small` to 10,000 users and `big` through each size of --sizes by /Bulk
(4 requests of 1,000 operations in flight; the seeding rate is itself a figure), and at each
size of `big` measures every scenario with wrk (c=32) for --duration seconds:

  healthz      GET /healthz (the server's own ceiling, no database)
  filter       GET /Users?filter=userName eq "…" (a user in the middle)
  get_by_id    GET /Users/{id}
  list_first   GET /Users?startIndex=1&count=100
  list_deep    GET /Users?startIndex=100000&count=100
  cursor_deep  GET /Users?cursor=…&count=100, the cursor taken at depth min(100,000, size/2)
  count0       GET /Users?count=0
  post         POST /Users (unique bodies)

then builds groups of --groups members in `big` (filled by PATCHes of 1,000 members) and
measures adding and removing one member, GET without and with members, and a PATCH that
replaces all members; then measures `small` the same way (the same database, 10,000 users: the baseline of the
growth factors) and prints one line per (scenario, size), the growth factor of each
scenario's mean latency against `small`, the server's RSS, and writes results.json, table.md
and plot.svg to --out.

Usage: python3 bench/scale.py [--binary target/release/scimgate] [--sizes 10000,100000,1000000]
                              [--duration 5] [--out target/scale] [--database URL]
Needs wrk (Debian package `wrk`). Sends traffic to 127.0.0.1 only.
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SCIM = "/gateway/ng/api/scim/account/{}"
# The baseline of a scenario's growth, when not the same scenario: on 10,000 users the page at
# startIndex 100,000 is empty, so a deep page is compared with a full first page.
BASE = {"list_deep": "list_first"}
SCENARIOS = ["healthz", "filter", "get_by_id", "list_first", "list_deep", "cursor_deep", "count0", "post"]


class Client:
    def __init__(self, port, token):
        self.port, self.token = port, token
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def call(self, method, path, body=None):
        h = {"Authorization": "Bearer " + self.token, "Content-Type": "application/scim+json"}
        self.c.request(method, path, json.dumps(body) if body is not None else None, h)
        r = self.c.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None


def seed(port, account, token, lo, hi, per=1000, flight=4):
    """Creates users lo+1..hi of `account` by /Bulk; returns users per second."""
    started = time.monotonic()
    chunks = [(a, min(a + per, hi)) for a in range(lo, hi, per)]
    lock = threading.Lock()
    errors = []

    def worker():
        c = Client(port, token)
        while True:
            with lock:
                if not chunks or errors:
                    return
                a, b = chunks.pop(0)
            ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{n}",
                    "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                             "userName": f"u{n}@{account}.scale.test", "externalId": f"x{n}",
                             "name": {"givenName": "Seed", "familyName": f"F{n}"}, "active": True}}
                   for n in range(a + 1, b + 1)]
            try:
                r = c.call("POST", SCIM.format(account) + "/Bulk",
                           {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
                bad = [o for o in r["Operations"] if not str(o.get("status", "")).startswith("2")]
                if bad:
                    raise RuntimeError(f"bulk: {bad[0]}")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return (hi - lo) / (time.monotonic() - started)


def wrk(url, token, duration, mode="get", conns=32):
    env = dict(os.environ, SCALE_TOKEN=token or "", SCALE_MODE=mode, SCALE_RUN=str(time.time_ns()))
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "30s",
                          "-s", os.path.join(HERE, "scale.lua"), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"WRKJSON (\{.*\})", out)
    if not m:
        raise RuntimeError("wrk gave no summary:\n" + out)
    return json.loads(m.group(1))


def settle(pid, limit=60.0):
    """Waits (up to `limit` s) until the server is idle: under 5 % of a core over two 0.5 s
    windows, so that one scenario's backlog (or the seeding's checkpoints) does not leak into
    the next."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    t0, quiet, last = time.monotonic(), 0, cpu()
    while time.monotonic() - t0 < limit and quiet < 2:
        time.sleep(0.5)
        now = cpu()
        quiet = quiet + 1 if now - last < 0.025 else 0
        last = now


def measure(port, pid, account, token, size, duration):
    """Every scenario against `account` (of `size` users); {scenario: wrk summary}."""
    c = Client(port, token)
    base = f"http://127.0.0.1:{port}" + SCIM.format(account)
    middle = f"u{max(size // 2, 1)}@{account}.scale.test"
    q = urllib.parse.quote(f'userName eq "{middle}"')
    found = c.call("GET", SCIM.format(account) + f"/Users?filter={q}")["Resources"]
    uid = found[0]["id"]
    # A cursor at depth: walk pages of 1,000 by cursor.
    depth = min(100_000, size // 2)
    cursor, seen = None, 0
    while seen < depth:
        page = c.call("GET", SCIM.format(account) + "/Users?count=1000&attributes=id"
                      + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "&cursor="))
        seen += len(page["Resources"])
        cursor = page.get("nextCursor")
        if not cursor:
            break
    urls = {
        "healthz": (f"http://127.0.0.1:{port}/healthz", "get"),
        "filter": (f"{base}/Users?filter={q}", "get"),
        "get_by_id": (f"{base}/Users/{uid}", "get"),
        "list_first": (f"{base}/Users?startIndex=1&count=100", "get"),
        "list_deep": (f"{base}/Users?startIndex=100000&count=100", "get"),
        "cursor_deep": (f"{base}/Users?count=100&cursor={urllib.parse.quote(cursor or '')}", "get"),
        "count0": (f"{base}/Users?count=0", "get"),
        "post": (f"{base}/Users", "post-user"),
    }
    out = {}
    for name in SCENARIOS:
        url, mode = urls[name]
        settle(pid)
        r = wrk(url, None if name == "healthz" else token, duration, mode)
        out[name] = r
        print(f"{name:12} {account:6} {size:>9,} users  {r['rps']:>9,.0f} req/s  mean {r['mean_ms']:7.2f} ms"
              f"  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}", flush=True)
    return out


def user_ids(c, account, n):
    """The ids of the account's first `n` users (by cursor pages of 1,000)."""
    ids, cursor = [], ""
    while len(ids) < n:
        page = c.call("GET", SCIM.format(account) + f"/Users?count=1000&attributes=id&cursor={urllib.parse.quote(cursor)}")
        ids += [r["id"] for r in page["Resources"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    return ids[:n]


def timed(f, repeat):
    """The median of `repeat` timings of f(), in ms."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


def measure_groups(port, pid, account, token, sizes, duration):
    """Groups of each size: how fast they fill, and the costs the issue names (one member added
    and removed, GET without and with members, PATCH that replaces all members)."""
    c = Client(port, token)
    ids = user_ids(c, account, max(sizes) + 1)
    patch = lambda ops: {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}  # noqa: E731
    out = {}
    for g in sizes:
        gid = c.call("POST", SCIM.format(account) + "/Groups",
                     {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"G{g}"})["id"]
        path = SCIM.format(account) + f"/Groups/{gid}"
        t = time.perf_counter()
        for a in range(0, g, 1000):
            c.call("PATCH", path, patch([{"op": "add", "path": "members",
                                          "value": [{"value": i} for i in ids[a:min(a + 1000, g)]]}]))
        fill = g / (time.perf_counter() - t)
        extra = ids[g]
        settle(pid)

        def add_remove():
            c.call("PATCH", path, patch([{"op": "add", "path": "members", "value": [{"value": extra}]}]))
            c.call("PATCH", path, patch([{"op": "remove", "path": f'members[value eq "{extra}"]'}]))

        add = timed(add_remove, 50) / 2
        settle(pid)
        full_rss = rss_growth(pid, lambda: c.call("GET", path))
        bare = wrk(f"http://127.0.0.1:{port}{path}?excludedAttributes=members", token, duration)
        full = timed(lambda: c.call("GET", path), 3)
        members = [{"value": i} for i in ids[:g]]
        replace = timed(lambda: c.call("PATCH", path, patch([{"op": "replace", "path": "members", "value": members}])), 1)
        out[g] = {"fill_members_per_s": fill, "add_remove_ms": add, "get_without_members": bare,
                  "get_full_ms": full, "get_full_rss_growth_mb": full_rss, "replace_all_ms": replace}
        print(f"group        {g:>9,} members  fill {fill:,.0f}/s  add or remove one {add:.2f} ms  "
              f"GET ?excludedAttributes=members {bare['rps']:,.0f}/s ({bare['mean_ms']:.2f} ms)  "
              f"GET full {full:.0f} ms (RSS +{full_rss:.1f} MB)  PATCH replace all {replace:.0f} ms", flush=True)
    return out


def rss_growth(pid, call):
    """How far the server's RSS rises above where it was while `call` runs (sampled every 2 ms):
    what answering it holds in memory at once."""
    before = rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.002)

    t = threading.Thread(target=sample)
    t.start()
    try:
        call()
    finally:
        done.set()
        t.join()
    return max(peak[0], rss_mb(pid)) - before


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def svg_plot(results, baseline, path):
    """Mean latency of each scenario against the account's size (log x), as an SVG."""
    sizes = sorted(results)
    w, h, left, bottom, top, right = 760, 420, 70, 50, 20, 170
    xs = {s: left + (w - left - right) * i / max(len(sizes) - 1, 1) for i, s in enumerate(sizes)}
    top_ms = max(results[s][n]["mean_ms"] for s in sizes for n in SCENARIOS) * 1.1
    y = lambda ms: top + (h - top - bottom) * (1 - ms / top_ms)  # noqa: E731
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
             f'<text x="{(w - right + left) / 2}" y="{h - 10}" text-anchor="middle">users in the account</text>',
             f'<text x="15" y="{(h - bottom + top) / 2}" transform="rotate(-90 15 {(h - bottom + top) / 2})" '
             f'text-anchor="middle">mean latency, ms (wrk c=32)</text>']
    for s in sizes:
        parts.append(f'<text x="{xs[s]}" y="{h - bottom + 16}" text-anchor="middle">{s:,}</text>')
    for i in range(5):
        ms = top_ms * i / 4
        parts.append(f'<text x="{left - 6}" y="{y(ms) + 4}" text-anchor="end">{ms:.1f}</text>')
    for i, n in enumerate(SCENARIOS):
        pts = " ".join(f"{xs[s]:.1f},{y(results[s][n]['mean_ms']):.1f}" for s in sizes)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colours[i]}" stroke-width="2"/>')
        for s in sizes:
            parts.append(f'<circle cx="{xs[s]:.1f}" cy="{y(results[s][n]["mean_ms"]):.1f}" r="3" fill="{colours[i]}"/>')
        growth = results[sizes[-1]][n]["mean_ms"] / baseline[BASE.get(n, n)]["mean_ms"]
        parts.append(f'<text x="{w - right + 10}" y="{top + 16 * i + 10}" fill="{colours[i]}">{n} ({growth:.2f}x)</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/release/scimgate")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--out", default="target/scale")
    ap.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--groups", default="1000,10000,100000",
                    help="group sizes to build and measure (capped by the largest --sizes; empty for none)")
    a = ap.parse_args()
    sizes = sorted(int(s) for s in a.sizes.split(","))
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="scimgate-scale.")
    db = a.database or f"sqlite://{work}/scale.db?mode=rwc"
    tokens = {}
    for acc in ["small", "big"]:
        tokens[acc] = json.loads(subprocess.check_output(
            [a.binary, "account", "create", acc, "--admin-email", f"admin@{acc}.test", "--database", db]))["token"]
    log = open(f"{work}/server.log", "w+")
    server = subprocess.Popen(
        [a.binary, "serve", "--listen", "127.0.0.1:0", "--database", db, "--no-bootstrap",
         "--account-rate-limit", "0", "--account-max-in-flight", "0",
         # a PATCH that replaces 100,000 members is about 5 MB
         "--max-body-bytes", str(16 << 20)],
        stderr=log, env=dict(os.environ, RUST_LOG="warn"))
    started = time.monotonic()
    try:
        port = None
        for _ in range(300):
            log.seek(0)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if not port:
            sys.exit("the server did not start: see " + log.name)
        rate = seed(port, "small", tokens["small"], 0, 10_000)
        print(f"seeded small to 10,000 users: {rate:,.0f} users/s", flush=True)
        results, seeding, have = {}, {}, 0
        for size in sizes:
            rate = seed(port, "big", tokens["big"], have, size)
            seeding[size] = rate
            have = size
            print(f"seeded big to {size:,} users: {rate:,.0f} users/s", flush=True)
            results[size] = measure(port, server.pid, "big", tokens["big"], size, a.duration)
        groups = [int(g) for g in a.groups.split(",") if g and int(g) < sizes[-1]]
        group_results = measure_groups(port, server.pid, "big", tokens["big"], groups, a.duration) if groups else {}
        baseline = measure(port, server.pid, "small", tokens["small"], 10_000, a.duration)
        rss = rss_mb(server.pid)
        print(f"server RSS after the run: {rss:.0f} MB; whole run {time.monotonic() - started:.0f} s")
        print("\ngrowth of the mean latency at the largest size against the 10,000-user account in the same "
              "database (list_deep against its first page):")
        rows = ["| scenario | " + " | ".join(f"{s:,}" for s in sizes) + " | growth at the largest |",
                "|---|" + "---|" * (len(sizes) + 1)]
        for n in SCENARIOS:
            cells = [f"{results[s][n]['rps']:,.0f}/s, {results[s][n]['mean_ms']:.2f} ms" for s in sizes]
            growth = results[sizes[-1]][n]["mean_ms"] / baseline[BASE.get(n, n)]["mean_ms"]
            rows.append(f"| {n} | " + " | ".join(cells) + f" | {growth:.2f}x |")
            print(f"  {n:12} {growth:.2f}x")
        if group_results:
            rows += ["", "| group members | fill by PATCH | add or remove one | GET ?excludedAttributes=members | GET full | RSS rise during the first GET full | PATCH replace all |",
                     "|---|---|---|---|---|---|---|"]
            for g, r in group_results.items():
                b = r["get_without_members"]
                rows.append(f"| {g:,} | {r['fill_members_per_s']:,.0f}/s | {r['add_remove_ms']:.2f} ms | "
                            f"{b['rps']:,.0f}/s, {b['mean_ms']:.2f} ms | {r['get_full_ms']:.0f} ms | "
                            f"{r.get('get_full_rss_growth_mb', 0):.1f} MB | {r['replace_all_ms']:.0f} ms |")
        table = "\n".join(rows)
        with open(os.path.join(a.out, "table.md"), "w") as f:
            f.write(table + "\n")
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump({"sizes": sizes, "results": {str(k): v for k, v in results.items()}, "baseline": baseline,
                       "seeding_users_per_s": {str(k): v for k, v in seeding.items()}, "rss_mb": rss,
                       "groups": {str(k): v for k, v in group_results.items()}}, f, indent=1)
        svg_plot(results, baseline, os.path.join(a.out, "plot.svg"))
        print(f"\n{table}\n\nwritten: {a.out}/table.md, results.json, plot.svg")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
