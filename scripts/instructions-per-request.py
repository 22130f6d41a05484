#!/usr/bin/env python3
"""Instructions per SCIM request, counted by valgrind's callgrind (repeatable where wall-clock
load runs on a shared 2-core machine are not).

    scripts/instructions-per-request.py BINARY DB SCENARIO [N_LOW N_HIGH]

BINARY is a `scimgate` build, DB a seeded SQLite file (for example the one ../shared/bench's
seed scenario filled, with its `.admin-token` beside it; it is copied, never changed).
SCENARIO is `get` (GET /Users/{id}), `filter` (userName eq), `post` (POST /Users) or `patch`
(PATCH /Users/{id}, a new displayName each time). The
server runs under callgrind twice, serving N_LOW and N_HIGH requests over one keep-alive
loopback connection; the difference of the two totals divided by N_HIGH - N_LOW is the cost
of one request without start-up. Only 127.0.0.1 is used.

Environment: SCIM_ACCOUNT, the account of the SCIM paths (default `default`); SCIMGATE_FLAGS,
more `serve` flags, e.g. `--request-log-retention 0` to count a request without the request
log (docs/benchmarks.md); CALLGRIND_KEEP, a path prefix: each run's callgrind output is kept
there (`PREFIX.N`) for `callgrind_annotate`.
"""
import http.client, json, os, shutil, signal, subprocess, sys, tempfile, time

BASE = '/gateway/ng/api/scim/account/' + os.environ.get('SCIM_ACCOUNT', 'default')
FILTER = BASE + '/Users?filter=userName%20eq%20%22user5000%40example.com%22'


def total(binary, db, scenario, n):
    work = tempfile.mkdtemp()
    copy = os.path.join(work, 'db')
    shutil.copy(db, copy)
    token = open(db + '.admin-token').read().strip()
    out = os.path.join(work, 'callgrind.out')
    server = subprocess.Popen(
        ['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}', binary, 'serve',
         '--listen', '127.0.0.1:18095', '--database', f'sqlite://{copy}?mode=rwc', '--no-bootstrap', 'true',
         '--account-rate-limit', '0', '--account-max-in-flight', '0',
         *os.environ.get('SCIMGATE_FLAGS', '').split()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, 'RUST_LOG': 'warn'})
    try:
        for _ in range(600):  # at most 60 s for the start under valgrind
            try:
                c = http.client.HTTPConnection('127.0.0.1', 18095, timeout=60)
                c.request('GET', '/healthz')
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit('the server did not start')
        auth = {'Authorization': 'Bearer ' + token}
        c.request('GET', FILTER, headers=auth)
        uid = json.loads(c.getresponse().read())['Resources'][0]['id']
        for i in range(n):
            if scenario == 'get':
                c.request('GET', f'{BASE}/Users/{uid}', headers=auth)
            elif scenario == 'filter':
                c.request('GET', FILTER, headers=auth)
            elif scenario == 'patch':
                body = json.dumps({'schemas': ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], 'Operations': [
                    {'op': 'replace', 'path': 'displayName', 'value': f'ipr {n} {i}'}]})
                c.request('PATCH', f'{BASE}/Users/{uid}', body=body,
                          headers={**auth, 'Content-Type': 'application/scim+json'})
            else:
                body = json.dumps({'userName': f'ipr-{os.getpid()}-{n}-{i}@example.com'})
                c.request('POST', f'{BASE}/Users', body=body,
                          headers={**auth, 'Content-Type': 'application/scim+json'})
            r = c.getresponse()
            r.read()
            assert r.status in (200, 201), r.status
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    totals = [int(l.split()[1]) for l in open(out) if l.startswith(('summary:', 'totals:'))]
    if os.environ.get('CALLGRIND_KEEP'):
        shutil.copy(out, f"{os.environ['CALLGRIND_KEEP']}.{n}")
    shutil.rmtree(work)
    return totals[-1]


def main():
    if len(sys.argv) not in (4, 6):
        raise SystemExit(__doc__)
    binary, db, scenario = sys.argv[1:4]
    low, high = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) == 6 else (100, 1100)
    a, b = total(binary, db, scenario, low), total(binary, db, scenario, high)
    print(f'{scenario}: {(b - a) / (high - low):,.0f} instructions per request ({binary})')


if __name__ == '__main__':
    main()
