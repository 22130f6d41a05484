#!/usr/bin/env python3
"""Webhook delivery figures (docs/events.md, issue 15): the delivery rate to a fast receiver on
loopback and the lag from commit to delivery when idle.

    python3 scripts/webhook-delivery.py [BINARY] [--events N] [--samples N]

BINARY defaults to target/release/scimgate. The script starts it on a fresh SQLite database
(with --webhook-allow-hosts loopback --webhook-allow-http), runs an asyncio HTTP receiver on
127.0.0.1 that answers 200 at once, and measures:

  rate  N users are created while the subscription is disabled (N events wait in the
        outbox); then it is enabled, and the time from enabling to the last event received
        gives events per second. Every event must arrive once, in order.
  lag   with the subscription enabled and nothing else going on, one user is created every
        50 ms; for each, the time from the event's `occurredAt` (the write's time) to its
        arrival. Prints p50, p99 and max.
"""
import argparse
import asyncio
import datetime
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

received = []  # (arrival time, event)


class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1")
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(self.buf) < head_end + 4 + n:
                return
            body = self.buf[head_end + 4:head_end + 4 + n]
            self.buf = self.buf[head_end + 4 + n:]
            received.append((time.time(), json.loads(body)))
            self.t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


def start_receiver():
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port = []

    def run():
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(Receiver, "127.0.0.1", 0))
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return port[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="target/release/scimgate")
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=400)
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    db = f"sqlite://{work}/hooks.db?mode=rwc"
    token = json.loads(subprocess.check_output(
        [a.binary, "account", "create", "bench", "--admin-email", "admin@bench.test", "--database", db]))["token"]
    log = open(f"{work}/server.log", "w+")
    env = dict(os.environ, RUST_LOG="warn")
    server = subprocess.Popen(
        [a.binary, "serve", "--listen", "127.0.0.1:0", "--database", db, "--no-bootstrap",
         "--account-rate-limit", "0", "--account-max-in-flight", "0",
         "--webhook-allow-hosts", "loopback", "--webhook-allow-http"], stderr=log, env=env)
    try:
        addr = None
        for _ in range(200):
            log.seek(0)
            m = re.search(r"listening on http://(\S+)", log.read())
            if m:
                addr = m.group(1)
                break
            time.sleep(0.1)
        assert addr, "the server did not start"
        host, port = addr.rsplit(":", 1)
        rport = start_receiver()
        c = http.client.HTTPConnection(host, int(port))

        def call(method, path, body=None, scim=False):
            h = {"Content-Type": "application/scim+json" if scim else "application/json"}
            h["Authorization" if scim else "x-api-key"] = ("Bearer " if scim else "") + token
            c.request(method, path, json.dumps(body) if body is not None else None, h)
            r = c.getresponse()
            data = r.read()
            assert r.status < 300, (r.status, data)
            return json.loads(data) if data else None

        hooks = "/gateway/ng/api/webhooks"
        url = f"http://127.0.0.1:{rport}/hook"
        call("POST", f"{hooks}?accountIdentifier=bench",
             {"identifier": "bench", "url": url, "events": ["*"], "enabled": False})
        # The backlog: N users, written by 8 connections.
        def writer(lo, hi):
            w = http.client.HTTPConnection(host, int(port))
            for i in range(lo, hi):
                w.request("POST", "/gateway/ng/api/scim/account/bench/Users",
                          json.dumps({"userName": f"u{i}@example.com"}),
                          {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
                r = w.getresponse()
                r.read()
                assert r.status == 201, r.status
        step = a.events // 8
        ts = [threading.Thread(target=writer, args=(k * step, (k + 1) * step)) for k in range(8)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        n = step * 8
        t0 = time.time()
        call("PUT", f"{hooks}/bench?accountIdentifier=bench", {"url": url, "events": ["*"], "enabled": True})
        deadline = time.time() + 300
        while len(received) < n and time.time() < deadline:
            time.sleep(0.01)
        took = received[-1][0] - t0
        seqs = [e["seq"] for _, e in received]
        assert len(received) == n, f"{len(received)} of {n} arrived"
        assert seqs == sorted(seqs) and len(set(seqs)) == n, "out of order or duplicated"
        print(f"rate  {n} events delivered in {took:.2f} s: {n / took:,.0f} events/s (in order, each once)")

        received.clear()
        lags = []
        for i in range(a.samples):
            call("POST", "/gateway/ng/api/scim/account/bench/Users", {"userName": f"lag{i}@example.com"}, scim=True)
            time.sleep(0.05)
        deadline = time.time() + 30
        while len(received) < a.samples and time.time() < deadline:
            time.sleep(0.01)
        for arrived, e in received:
            at = datetime.datetime.fromisoformat(e["occurredAt"].replace("Z", "+00:00")).timestamp()
            lags.append((arrived - at) * 1000)
        lags.sort()
        p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
        print(f"lag   {len(lags)} events, one per 50 ms: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, "
              f"max {lags[-1]:.1f} ms, mean {statistics.mean(lags):.1f} ms (commit to arrival)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
