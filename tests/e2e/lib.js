// Helpers of the console's browser tests (docs/console.md): a fresh scimgate server per test,
// the scimgate CLI, plain HTTP calls to the SCIM and product APIs, headless Chromium through
// playwright-core, screenshots and the axe-core check.
//
// Everything talks to 127.0.0.1 only: each browser context aborts (and records) any request
// elsewhere, and the tests fail on one.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/** The scimgate binary under test (scripts/e2e.sh sets SCIMGATE_BIN). */
export const BIN = process.env.SCIMGATE_BIN ?? path.join(repoRoot, 'target', 'debug', 'scimgate');
/** Chromium from Debian's `chromium` package. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Where screenshots and the axe report go. */
export const OUT = process.env.E2E_OUT ?? path.join(repoRoot, 'target', 'e2e');
export const SHOTS = path.join(OUT, 'screenshots');

const run = promisify(execFile);

/**
 * Every child process started, so none outlives the run: not when a test throws, nor when the
 * runner stops this file (a timeout sends SIGTERM) or Ctrl-C.
 */
const children = new Set();
const killAll = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + os.constants.signals[signal]);
  });
}

/**
 * Runs `fn` when the test ends, after the test's later cleanups (last registered, first run).
 * Every cleanup runs even when one throws (node:test stops at the first failing after hook,
 * which would leave a server running); the first error then fails the test.
 */
const cleanups = new WeakMap();
export function onEnd(t, fn) {
  let list = cleanups.get(t);
  if (!list) {
    list = [];
    cleanups.set(t, list);
    t.after(async () => {
      let first;
      for (const f of list.reverse()) {
        try {
          await f();
        } catch (e) {
          first ??= e;
        }
      }
      if (first) throw first;
    });
  }
  list.push(fn);
}

/** Runs the scimgate CLI; its stdout, trimmed. */
export async function cli(...args) {
  const { stdout } = await run(BIN, args, { env: { ...process.env, RUST_LOG: 'warn' } });
  return stdout.trim();
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value (which it returns), or fails after `ms`. */
export async function until(what, fn, ms = 10_000, every = 200) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

function spawnChild(args, logFile) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(BIN, args, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a fresh `scimgate serve` on 127.0.0.1:0 with a new SQLite database, for one test
 * (stopped when the test ends). Its first start creates the account `default` and writes the
 * admin token to `<db file>.admin-token`.
 */
export async function startServer(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scimgate-e2e-'));
  const dbFile = path.join(dir, 'db');
  const database = `sqlite://${dbFile}?mode=rwc`;
  const logFile = path.join(dir, 'server.log');
  const child = spawnChild(
    ['serve', '--listen', '127.0.0.1:0', '--database', database, '--jwks-allow-hosts', 'loopback', '--jwks-allow-http',
      '--webhook-allow-hosts', 'loopback', '--webhook-allow-http'],
    logFile,
  );
  const log = () => fs.readFileSync(logFile, 'utf8');
  const addr = await until('the server to listen', () => {
    if (child.exitCode !== null) throw new Error(`scimgate exited with ${child.exitCode}:\n${log()}`);
    return /^scimgate: listening on http:\/\/(\S+)$/m.exec(log())?.[1];
  });
  const token = fs.readFileSync(`${dbFile}.admin-token`, 'utf8').trim();
  assert.match(log(), new RegExp(`admin token \\(shown once\\): ${token.replace(/\./g, '\\.')}`));
  const server = {
    dir,
    database,
    url: `http://${addr}`,
    addr,
    token,
    account: 'default',
    log,
    /** The scimgate CLI on this server's database. */
    cli: (...args) => cli(...args, '--database', database),
    /** Turns a feature flag on for `default` and waits until the server sees it. */
    async flag(name, state = 'on') {
      await cli('account', 'feature-flag', 'default', name, state, '--database', database);
    },
    /** A request with the admin token: `x-api-key` for the product API, Bearer for SCIM. */
    async api(method, pathAndQuery, body, { bearer = false, key = token } = {}) {
      const headers = bearer ? { authorization: `Bearer ${key}` } : { 'x-api-key': key };
      if (body !== undefined) headers['content-type'] = bearer ? 'application/scim+json' : 'application/json';
      const res = await fetch(server.url + pathAndQuery, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
      });
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, text, json };
    },
    scimPath: (p) => `/gateway/ng/api/scim/account/default${p}`,
    /** A SCIM request with a bearer token (the admin's by default). */
    scim: (method, p, body, key = token) => server.api(method, server.scimPath(p), body, { bearer: true, key }),
    /** Stops the server. */
    stop: () => stopChild(child),
    /** Starts `scimgate jwt serve-jwks` for a directory on a free port; its JWKS URL. */
    async serveJwks(jwksDir) {
      const port = await freePort();
      const jwks = spawnChild(['jwt', 'serve-jwks', '--dir', jwksDir, '--listen', `127.0.0.1:${port}`], path.join(dir, 'jwks.log'));
      onEnd(t, () => stopChild(jwks));
      const url = `http://127.0.0.1:${port}/jwks.json`;
      await until('the JWKS server', async () => (await fetch(url)).ok);
      return url;
    },
  };
  onEnd(t, async () => {
    await stopChild(child);
    if (process.env.E2E_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

/** Creates a service account with a role on all account-level resources, an API key and a token; the token. */
export async function serviceAccountToken(server, id, role, { name = id, email = `${id.toLowerCase()}@acme.example` } = {}) {
  const acc = 'accountIdentifier=default';
  let r = await server.api('POST', `/gateway/ng/api/serviceaccount?${acc}`, { identifier: id, name, email });
  assert.equal(r.status, 200, r.text);
  r = await server.api('POST', `/gateway/authz/api/roleassignments?${acc}`, {
    roleIdentifier: role,
    resourceGroupIdentifier: '_all_account_level_resources',
    principal: { identifier: id, type: 'SERVICE_ACCOUNT' },
  });
  assert.equal(r.status, 200, r.text);
  r = await server.api('POST', `/gateway/ng/api/apikey?${acc}`, { identifier: 'k', name: 'k', apiKeyType: 'SERVICE_ACCOUNT', parentIdentifier: id });
  assert.equal(r.status, 200, r.text);
  r = await server.api('POST', `/gateway/ng/api/token?${acc}`, {
    identifier: 't',
    name: 't',
    apiKeyType: 'SERVICE_ACCOUNT',
    parentIdentifier: id,
    apiKeyIdentifier: 'k',
  });
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.data, /^sat\.default\./);
  return r.json.data;
}

/** The custom role of the seed documents: the five SCIM permissions. */
export const SCIM_PERMISSIONS = ['core_user_view', 'core_user_invite', 'core_user_manage', 'core_usergroup_view', 'core_usergroup_manage'];

/** Headless Chromium with the flags that keep it off the network; a fresh profile directory each launch. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright adds --headless and a fresh --user-data-dir of its own.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

function loopback(url) {
  try {
    const u = new URL(url);
    return u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'about:';
  } catch {
    return false;
  }
}

/**
 * A browser context for one test (closed when it ends), 1280 px wide unless told, that refuses
 * every request off 127.0.0.1 and collects page errors and console errors (a CSP violation
 * shows there); the test fails if any happened.
 */
export async function newContext(t, browser, { width = 1280, height = 800, ...options } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, ...options });
  const problems = [];
  await context.route((url) => !loopback(url.href), (route) => {
    problems.push(`request off loopback: ${route.request().url()}`);
    return route.abort();
  });
  const watch = (page) => {
    page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
    page.on('console', (m) => {
      // The 4xx answers the tests provoke on purpose (and check) are logged as failed resources.
      if (m.type() === 'error' && !/the server responded with a status of 4\d\d/.test(m.text())) {
        problems.push(`console error on ${page.url()}: ${m.text()}`);
      }
    });
  };
  context.on('page', watch);
  onEnd(t, async () => {
    await context.close();
    assert.deepEqual(problems, [], 'no page errors, console errors or requests off loopback');
  });
  return context;
}

/** The pages whose screenshots docs/console/ keeps (scripts/e2e.sh --update-docs copies them). */
const DOC_SHOTS = new Set(['login', 'overview', 'users', 'serviceaccount-new', 'scim-jwt']);

/**
 * Saves a full-page screenshot to target/e2e/screenshots/<name>.png; for the pages of
 * docs/console/, also the first screenful (or the `focus` element) to target/e2e/docs/<name>.png.
 */
export async function shot(page, name, { focus } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  if (DOC_SHOTS.has(name) && page.viewportSize()?.width === 1280) {
    fs.mkdirSync(path.join(OUT, 'docs'), { recursive: true });
    // `focus`: only that element.
    const file = path.join(OUT, 'docs', `${name}.png`);
    await (focus ? focus.screenshot({ path: file }) : page.screenshot({ path: file }));
  }
}

/**
 * Clicks a link or a form's button and waits for the page it leads to (the same URL again
 * too: a form that answers with its own page, or a POST redirected back), parsed.
 */
export async function go(page, control) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await control.click();
  await navigated;
  await page.waitForLoadState('domcontentloaded');
}

/** Signs in at /login with a token; lands on the Overview. */
export async function signIn(page, server, token = server.token) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.url}/`);
  assert.equal(await page.locator('h1').textContent(), 'Overview');
}

/** The CSRF token of the page's forms. */
export async function csrfOf(page) {
  const v = await page.locator('input[name=csrf]').first().getAttribute('value');
  assert.ok(v, 'the page has a CSRF token');
  return v;
}

/** A form POST made by the page itself (same origin, the session cookie): status and text. */
export async function postFromPage(page, action, fields) {
  return page.evaluate(
    async ([action, fields]) => {
      const res = await fetch(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
        redirect: 'manual',
      });
      return { status: res.status, text: await res.text() };
    },
    [action, fields],
  );
}

/** The text of every cell of a table's body rows. */
export async function rows(locator) {
  return locator.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
}

const AXE_SOURCE = fs.readFileSync(path.join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page. axe.min.js is evaluated with page.evaluate, which the page's CSP
 * (script-src 'self') does not govern, so the page keeps its real policy; addScriptTag would
 * insert an inline script, which that policy blocks.
 */
export async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(AXE_SOURCE);
  }
  return page.evaluate(async () => {
    const r = await window.axe.run(document);
    const violations = r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
    return { violations, passes: r.passes.length, incomplete: r.incomplete.map((v) => v.id) };
  });
}
