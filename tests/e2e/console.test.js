// The admin console in headless Chromium (docs/console.md, issue 13). Each test starts its own
// scimgate server on a fresh SQLite database; `bash scripts/e2e.sh` builds it and runs these.

import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  OUT,
  cli,
  SCIM_PERMISSIONS,
  axe,
  csrfOf,
  go,
  launchBrowser,
  newContext,
  postFromPage,
  rows,
  serviceAccountToken,
  shot,
  signIn,
  startServer,
  until,
} from './lib.js';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const acc = 'accountIdentifier=default';

/** A SCIM user with a name and a work e-mail; its id. */
async function user(server, userName, extra = {}) {
  const r = await server.scim('POST', '/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName,
    name: { givenName: userName.split('@')[0], familyName: 'Example', formatted: `${userName.split('@')[0]} Example` },
    emails: [{ value: userName, type: 'work', primary: true }],
    active: true,
    ...extra,
  });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

async function group(server, displayName, members) {
  const r = await server.scim('POST', '/Groups', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName,
    externalId: `ext-${displayName.toLowerCase()}`,
    members: members.map(([value, display]) => ({ value, display })),
  });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

/** The text of the <dd> after the <dt> with that text on a facts list. */
async function fact(page, term) {
  return page.locator('dl.facts dt', { hasText: term }).locator('xpath=following-sibling::dd[1]').first().innerText();
}

/** Turns both feature flags on with the CLI and reloads the Overview until it shows them on. */
async function flagsOn(page, server) {
  await server.flag('NG_SETTINGS');
  await server.flag('PL_SUPPORT_JWT_TOKEN_SCIM_API');
  await until(
    'the server to see both feature flags (within 5 s)',
    async () => {
      await page.goto(`${server.url}/`);
      return (
        (await fact(page, 'Settings API (NG_SETTINGS)')) === 'on' &&
        (await fact(page, 'SCIM JWT authentication')) === 'on'
      );
    },
    10_000,
    250,
  );
}

/** The role and service account of the seed documents, through the product API. */
async function scimRoleAndServiceAccount(server) {
  let r = await server.api('POST', `/gateway/authz/api/roles?${acc}`, { identifier: 'scim', name: 'SCIM', permissions: SCIM_PERMISSIONS });
  assert.equal(r.status, 200, r.text);
  r = await server.api('POST', `/gateway/ng/api/serviceaccount?${acc}`, { name: 'SCIM Provisioner (Okta)', email: 'scim@acme.example' });
  assert.equal(r.status, 200, r.text);
  r = await server.api('POST', `/gateway/authz/api/roleassignments?${acc}`, {
    roleIdentifier: 'scim',
    resourceGroupIdentifier: '_all_account_level_resources',
    principal: { identifier: 'SCIM_Provisioner_Okta', type: 'SERVICE_ACCOUNT' },
  });
  assert.equal(r.status, 200, r.text);
}

/** Fills the SCIM JWT form with the seed document's four settings and saves it. */
async function saveJwtSettings(page, server, jwksUrl) {
  await page.goto(`${server.url}/settings/scim-jwt`);
  await page.getByLabel('JWKS URL').fill(jwksUrl);
  await page.getByLabel('Claim name').fill('email');
  await page.getByLabel('Claim value').fill('scim@acme.example');
  await page.getByLabel('Service account').fill('SCIM_Provisioner_Okta');
  await go(page, page.getByRole('button', { name: 'Save' }));
  await page.waitForLoadState();
  assert.equal(await page.locator('.field-error').count(), 0, await page.locator('main').innerText());
}

/** Pastes a JWT into Test a token; the rows of the result table as [check, result, detail]. */
async function testToken(page, jwt) {
  await page.getByLabel('JWT', { exact: true }).fill(jwt);
  await go(page, page.getByRole('button', { name: 'Test', exact: true }));
  await page.locator('table.checks').waitFor();
  return rows(page.locator('table.checks'));
}

test('1. sign in with the bootstrap token: the Overview shows the account and the SCIM base URL', async (t) => {
  const server = await startServer(t);
  const page = await (await newContext(t, browser)).newPage();
  // Signed out, the console sends the browser to /login.
  await page.goto(`${server.url}/`);
  assert.equal(page.url(), `${server.url}/login`);
  const field = page.getByLabel('API token');
  assert.equal(await field.getAttribute('name'), 'token');
  assert.equal(await field.getAttribute('type'), 'password', 'the token field is masked');
  await shot(page, 'login');
  // A wrong token: the sign-in page again with an error, no session.
  await field.fill('pat.default.nope.nope');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.equal(refused.status(), 401);
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /not accepted/);
  await shot(page, 'login-refused');
  // The bootstrap token.
  await signIn(page, server);
  assert.equal(await page.title(), 'Overview · scimgate');
  assert.equal(await fact(page, 'Account'), 'default');
  const base = `${server.url}/gateway/ng/api/scim/account/default`;
  assert.equal(await page.locator('#scim-base').innerText(), base);
  // At 1280 px the URL to copy is on one line (the facts' first column no longer squeezes it).
  assert.equal(await page.locator('#scim-base').evaluate((el) => el.getClientRects().length), 1, 'the SCIM base URL is not broken');
  assert.equal(await fact(page, 'Users'), '1', 'the bootstrap admin');
  assert.equal(await fact(page, 'Settings API (NG_SETTINGS)'), 'off');
  const cookie = (await page.context().cookies()).find((c) => c.name === 'scimgate_session');
  assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
  await shot(page, 'overview');
  // The base URL works for SCIM with the same token.
  const scim = await fetch(`${base}/Users`, { headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(scim.status, 200);
  // Sign out ends the session.
  await go(page, page.getByRole('button', { name: 'Sign out' }));
  await page.waitForURL(`${server.url}/login`);
  await page.goto(`${server.url}/users`);
  assert.equal(page.url(), `${server.url}/login`);
});

test('2. users and a group provisioned over SCIM show on Users and User groups, with search and paging', async (t) => {
  const server = await startServer(t);
  for (let i = 0; i < 30; i++) await user(server, `person${String(i).padStart(2, '0')}@acme.example`);
  const alice = await user(server, 'alice@acme.example', { externalId: 'okta-alice', displayName: 'Alice Liddell', name: { givenName: 'Alice', familyName: 'Liddell', formatted: 'Alice Liddell' } });
  const engineering = await group(server, 'Engineering', [[alice, 'alice@acme.example']]);
  const page = await (await newContext(t, browser)).newPage();
  await signIn(page, server);
  // The bootstrap admin (admin@localhost) is a user too.
  assert.equal(await fact(page, 'Users'), '32');
  assert.equal(await fact(page, 'User groups'), '1');

  await go(page, page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }));
  await page.waitForURL(`${server.url}/users`);
  const table = page.locator('main table');
  const first = await rows(table);
  assert.equal(first.length, 25, '25 users per page');
  assert.equal(first[0][0], 'admin@localhost');
  assert.equal(first[1][0], 'person00@acme.example');
  await shot(page, 'users');
  // Paging: the next page has the other seven.
  await go(page, page.getByRole('link', { name: 'Next page →' }));
  await page.waitForURL(/\/users\?q=&after=/);
  const second = await rows(table);
  assert.deepEqual(
    second.map((r) => r[0]),
    ['person24@acme.example', 'person25@acme.example', 'person26@acme.example', 'person27@acme.example', 'person28@acme.example', 'person29@acme.example', 'alice@acme.example'],
  );
  assert.equal(await page.getByRole('link', { name: 'Next page →' }).count(), 0, 'no page after the last');
  await shot(page, 'users-page-2');
  // Search (case-insensitive, by e-mail).
  await page.getByLabel('Search by userName, name, e-mail or externalId').fill('ALICE');
  await go(page, page.getByRole('button', { name: 'Search' }));
  await page.waitForURL(/\/users\?q=ALICE/);
  const found = await rows(table);
  assert.deepEqual(found.map((r) => r[0]), ['alice@acme.example']);
  assert.equal(found[0][1], 'Alice Liddell');
  assert.equal(found[0][2], 'alice@acme.example');
  assert.equal(found[0][4], 'okta-alice');
  await shot(page, 'users-search');
  // By externalId.
  await page.goto(`${server.url}/users?q=okta-alice`);
  assert.deepEqual((await rows(table)).map((r) => r[0]), ['alice@acme.example']);
  // A user's page: its groups and its SCIM representation.
  await go(page, page.getByRole('link', { name: 'alice@acme.example' }));
  await page.waitForURL(`${server.url}/users/${alice}`);
  assert.equal(await page.locator('h1').innerText(), 'alice@acme.example');
  assert.equal(await fact(page, 'Groups'), 'Engineering');
  const json = JSON.parse(await page.locator('pre.json').innerText());
  assert.equal(json.id, alice);
  assert.deepEqual(json.schemas, ['urn:ietf:params:scim:schemas:core:2.0:User']);
  await shot(page, 'user');

  await go(page, page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'User groups' }));
  await page.waitForURL(`${server.url}/groups`);
  await page.getByLabel('Search by name or externalId').fill('engin');
  await go(page, page.getByRole('button', { name: 'Search' }));
  await page.waitForURL(/\/groups\?q=engin/);
  const groups = await rows(page.locator('main table'));
  assert.deepEqual(groups, [['Engineering', 'ext-engineering', engineering]]);
  await shot(page, 'groups');
  await go(page, page.getByRole('link', { name: 'Engineering' }));
  await page.waitForURL(`${server.url}/groups/${engineering}`);
  assert.deepEqual(await rows(page.locator('main table')), [['alice@acme.example', 'User']]);
  assert.equal(await page.getByRole('link', { name: 'alice@acme.example' }).getAttribute('href'), `/users/${alice}`);
  await shot(page, 'group');
  // No match.
  await page.goto(`${server.url}/groups?q=nosuchgroup`);
  assert.match(await page.locator('main').innerText(), /No groups match/);
});

test('3. the seed flow: New Service Account (Id derived while typing), a custom role, Manage Roles, a token that works over SCIM', async (t) => {
  const server = await startServer(t);
  const page = await (await newContext(t, browser)).newPage();
  await signIn(page, server);
  await go(page, page.getByRole('link', { name: 'Account Settings' }));
  await page.waitForURL(`${server.url}/serviceaccounts`);
  assert.equal(await page.locator('nav.tabs [aria-current=page]').innerText(), 'Service Accounts');
  await shot(page, 'serviceaccounts-empty');
  await go(page, page.getByRole('link', { name: 'New Service Account' }));
  await page.waitForURL(`${server.url}/serviceaccounts/new`);
  const name = page.getByLabel('Name', { exact: true });
  const id = page.getByLabel('Id', { exact: true });
  // The small script derives the Id on every keystroke.
  await name.pressSequentially('SCIM Prov');
  assert.equal(await id.inputValue(), 'SCIM_Prov');
  await name.pressSequentially('isioner (Okta)');
  assert.equal(await id.inputValue(), 'SCIM_Provisioner_Okta');
  await page.getByLabel('Email').fill('scim@acme.example');
  await shot(page, 'serviceaccount-new');
  await go(page, page.getByRole('button', { name: 'Save' }));
  await page.waitForURL(`${server.url}/serviceaccounts/SCIM_Provisioner_Okta`);
  assert.equal(await page.locator('h1').innerText(), 'SCIM Provisioner (Okta)');
  assert.equal(await fact(page, 'Email'), 'scim@acme.example');

  // A custom role with the five SCIM permissions.
  await go(page, page.getByRole('link', { name: 'Roles', exact: true }));
  await page.waitForURL(`${server.url}/roles`);
  await go(page, page.getByRole('link', { name: 'New Role' }));
  await page.waitForURL(`${server.url}/roles/new`);
  await page.getByLabel('Name', { exact: true }).pressSequentially('SCIM Provisioning');
  assert.equal(await page.getByLabel('Id', { exact: true }).inputValue(), 'SCIM_Provisioning');
  for (const p of SCIM_PERMISSIONS) await page.getByRole('checkbox', { name: p, exact: true }).check();
  await shot(page, 'role-new');
  await go(page, page.getByRole('button', { name: 'Save' }));
  await page.waitForURL(`${server.url}/roles`);
  const role = (await rows(page.locator('main table'))).find((r) => r[1] === 'SCIM_Provisioning');
  assert.ok(role, 'the new role is listed');
  assert.deepEqual(role[2].split(/\s+/).sort(), [...SCIM_PERMISSIONS].sort());
  assert.equal(role[3], 'custom');
  await shot(page, 'roles');

  // Manage Roles on the service account's page.
  await go(page, page.getByRole('link', { name: 'Service Accounts' }));
  await go(page, page.getByRole('link', { name: 'SCIM Provisioner (Okta)' }));
  await page.waitForURL(`${server.url}/serviceaccounts/SCIM_Provisioner_Okta`);
  await page.getByLabel('Role', { exact: true }).selectOption('SCIM_Provisioning');
  await page.getByLabel('Resource group').selectOption('_all_account_level_resources');
  await go(page, page.getByRole('button', { name: 'Add role' }));
  await page.waitForURL(`${server.url}/serviceaccounts/SCIM_Provisioner_Okta`);
  const roleRows = await rows(page.locator('section[aria-labelledby=roles-h] table'));
  assert.deepEqual(roleRows.map((r) => r.slice(0, 3)), [['SCIM_Provisioning', '_all_account_level_resources', 'account']]);

  // A token, shown once.
  await page.getByLabel('Token name').fill('okta');
  await go(page, page.getByRole('button', { name: 'New token' }));
  const secret = (await page.locator('#new-secret').innerText()).trim();
  assert.match(secret, /^sat\.default\.[\w-]+\.[\w-]+$/);
  assert.match(await page.getByRole('status').first().innerText(), /shown only once/);
  assert.deepEqual((await rows(page.locator('section[aria-labelledby=keys-h] table'))).map((r) => r[0]), ['okta']);
  await shot(page, 'serviceaccount-token');
  // It works over SCIM.
  const scim = await server.scim('GET', '/Users', undefined, secret);
  assert.equal(scim.status, 200, scim.text);
  assert.deepEqual(scim.json.Resources.map((u) => u.userName), ['admin@localhost']);
  // Shown once: the POST redirected to the service account's page, which showed the secret
  // one time; a reload shows it no more and sends nothing again.
  assert.equal(page.url(), `${server.url}/serviceaccounts/SCIM_Provisioner_Okta`);
  await page.reload();
  assert.equal(await page.locator('#new-secret').count(), 0);
  assert.deepEqual((await rows(page.locator('section[aria-labelledby=keys-h] table'))).map((r) => r[0]), ['okta'], 'no second token');
  assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');
  await shot(page, 'serviceaccount');
  // The role assignments tab lists it.
  await go(page, page.getByRole('link', { name: 'Role Assignments' }));
  const all = await rows(page.locator('main table'));
  assert.ok(all.some((r) => r[0] === 'SERVICE_ACCOUNT SCIM_Provisioner_Okta' && r[1] === 'SCIM_Provisioning'), JSON.stringify(all));
  await shot(page, 'roleassignments');
  await go(page, page.getByRole('link', { name: 'Resource Groups' }));
  await shot(page, 'resourcegroups');
});

test('4. SCIM JWT settings: the form, Test a token (pass, then exactly the claim match fails), Fetch keys', async (t) => {
  const server = await startServer(t);
  const jwksDir = path.join(server.dir, 'jwks');
  await cli('jwt', 'keygen', '--alg', 'ES256', '--kid', 'idp-key', '--dir', jwksDir);
  const jwksUrl = await server.serveJwks(jwksDir);
  await scimRoleAndServiceAccount(server);
  const page = await (await newContext(t, browser)).newPage();
  await signIn(page, server);
  await flagsOn(page, server);

  await go(page, page.getByRole('link', { name: 'SCIM JWT settings' }));
  await page.waitForURL(`${server.url}/settings/scim-jwt`);
  await saveJwtSettings(page, server, jwksUrl);
  // Saved (the page may warn that issuer and audience are unset); the values are kept.
  await page.goto(`${server.url}/settings/scim-jwt`);
  assert.equal(await page.getByLabel('JWKS URL').inputValue(), jwksUrl);
  assert.equal(await page.getByLabel('Claim name').inputValue(), 'email');
  assert.equal(await page.getByLabel('Claim value').inputValue(), 'scim@acme.example');
  assert.equal(await page.getByLabel('Service account').inputValue(), 'SCIM_Provisioner_Okta');

  const key = path.join(jwksDir, 'idp-key.pem');
  const good = await cli('jwt', 'mint', '--key', key, '--alg', 'ES256', '--claim', 'email=scim@acme.example', '--ttl', '1h');
  const checks = await testToken(page, good);
  assert.ok(checks.length >= 8, JSON.stringify(checks));
  for (const [check, result, detail] of checks) assert.equal(result, 'pass', `${check}: ${detail}`);
  assert.deepEqual(
    checks.map((r) => r[0]),
    ['Parsed header', 'Feature flag', 'Settings', 'Key', 'Signature', 'Time claims', 'Issuer', 'Audience', 'Claim match', 'Service account'],
  );
  assert.ok(!(await page.content()).includes('BEGIN'), 'no key material on the page');
  await shot(page, 'scim-jwt', { focus: page.locator('section[aria-labelledby=test-h]') });
  // The same JWT works over SCIM.
  const scim = await server.scim('GET', '/Users', undefined, good);
  assert.equal(scim.status, 200, scim.text);

  const wrong = await cli('jwt', 'mint', '--key', key, '--alg', 'ES256', '--claim', 'email=other@acme.example', '--ttl', '1h');
  const refused = await testToken(page, wrong);
  assert.deepEqual(refused.filter((r) => r[1] === 'fail').map((r) => r[0]), ['Claim match'], JSON.stringify(refused));
  assert.equal(refused.at(-1)[0], 'Claim match', 'the checks stop at the failing one');
  assert.match(refused.at(-1)[2], /other@acme\.example|scim@acme\.example/);
  await shot(page, 'scim-jwt-claim-mismatch');

  await go(page, page.getByRole('button', { name: 'Fetch keys' }));
  const keys = page.locator('section[aria-labelledby=keys-h] table');
  await keys.waitFor();
  assert.deepEqual(await rows(keys), [['idp-key', 'EC P-256', 'ES256']]);
  await shot(page, 'scim-jwt-keys');

  // Every save is in the settings audit.
  await go(page, page.getByRole('link', { name: 'Settings audit' }));
  await page.waitForURL(`${server.url}/settings/audit`);
  const audit = (await rows(page.locator('main table'))).map((r) => r[2]).sort();
  assert.deepEqual(audit, [
    'scim_jwt_token_jwks_keys_url',
    'scim_jwt_token_key_field',
    'scim_jwt_token_service_account_id',
    'scim_jwt_token_value_field',
  ]);
  await shot(page, 'audit');
});

test('5. a viewer sees no edit controls, and its forged POSTs are refused', async (t) => {
  const server = await startServer(t);
  await scimRoleAndServiceAccount(server);
  const viewer = await serviceAccountToken(server, 'viewer', '_account_viewer', { name: 'Viewer' });
  // A token on SCIM_Provisioner_Okta, so its page has Rotate and Delete to hide.
  let r = await server.api('POST', `/gateway/ng/api/apikey?${acc}`, { identifier: 'okta', name: 'okta', apiKeyType: 'SERVICE_ACCOUNT', parentIdentifier: 'SCIM_Provisioner_Okta' });
  assert.equal(r.status, 200, r.text);
  r = await server.api('POST', `/gateway/ng/api/token?${acc}`, { identifier: 'okta_token', name: 'okta token', apiKeyType: 'SERVICE_ACCOUNT', parentIdentifier: 'SCIM_Provisioner_Okta', apiKeyIdentifier: 'okta' });
  assert.equal(r.status, 200, r.text);
  const controls = ['Add role', 'New token', 'Remove', 'Rotate', 'Delete'];
  // The admin sees every control the viewer must not.
  const admin = await (await newContext(t, browser)).newPage();
  await signIn(admin, server);
  await admin.goto(`${server.url}/serviceaccounts/SCIM_Provisioner_Okta`);
  for (const control of controls) assert.ok((await admin.getByRole('button', { name: control, exact: true }).count()) > 0, `the admin has ${control}`);
  await admin.goto(`${server.url}/serviceaccounts`);
  assert.equal(await admin.getByRole('link', { name: 'New Service Account' }).count(), 1);

  const page = await (await newContext(t, browser)).newPage();
  await signIn(page, server, viewer);
  await go(page, page.getByRole('link', { name: 'Me' }));
  assert.match(await fact(page, 'Signed in as'), /SERVICE_ACCOUNT\s+viewer/);
  await shot(page, 'me-viewer');
  await go(page, page.getByRole('link', { name: 'Account Settings' }));
  await page.waitForURL(`${server.url}/serviceaccounts`);
  const names = (await rows(page.locator('main table'))).map((r) => r[0]).sort();
  assert.deepEqual(names, ['SCIM Provisioner (Okta)', 'Viewer']);
  assert.equal(await page.getByRole('link', { name: 'New Service Account' }).count(), 0);
  await shot(page, 'serviceaccounts-viewer');
  await go(page, page.getByRole('link', { name: 'SCIM Provisioner (Okta)' }));
  await page.waitForURL(`${server.url}/serviceaccounts/SCIM_Provisioner_Okta`);
  for (const control of controls) {
    assert.equal(await page.getByRole('button', { name: control, exact: true }).count(), 0, `no ${control} for a viewer`);
  }
  assert.deepEqual((await rows(page.locator('section[aria-labelledby=keys-h] table'))).map((row) => row[0]), ['okta_token'], 'the viewer sees the token, not its controls');
  assert.equal(await page.getByLabel('Token name').count(), 0);
  await shot(page, 'serviceaccount-viewer');
  await go(page, page.getByRole('link', { name: 'Roles', exact: true }));
  assert.equal(await page.getByRole('link', { name: 'New Role' }).count(), 0);

  // Forged: the viewer's own valid CSRF token, from the page, in hand-made POSTs.
  const csrf = await csrfOf(page);
  const made = await postFromPage(page, '/serviceaccounts/new', { csrf, name: 'Evil', email: 'evil@acme.example', identifier: 'Evil' });
  assert.equal(made.status, 403, made.text);
  assert.match(made.text, /core_serviceaccount_edit/);
  const escalate = await postFromPage(page, '/serviceaccounts/viewer/roles', {
    csrf,
    role: '_account_admin',
    resource_group: '_all_account_level_resources',
  });
  assert.equal(escalate.status, 403, escalate.text);
  const token = await postFromPage(page, '/serviceaccounts/SCIM_Provisioner_Okta/tokens', { csrf, name: 'stolen' });
  assert.equal(token.status, 403, token.text);
  assert.doesNotMatch(token.text, /sat\.default\./);
  // The same through Playwright's request API, which shares the session cookie.
  const viaRequest = await page.request.post(`${server.url}/roles/new`, {
    form: { csrf, name: 'Evil', identifier: 'evil', permission: 'core_serviceaccount_edit' },
    maxRedirects: 0,
  });
  assert.equal(viaRequest.status(), 403);
  // Nothing changed.
  assert.equal((await server.api('GET', `/gateway/ng/api/serviceaccount/Evil?${acc}`)).status, 404);
  const assigned = await server.api('GET', `/gateway/authz/api/roleassignments?${acc}`);
  const viewerRoles = assigned.json.data.content
    .filter((a) => a.roleAssignment.principal.identifier === 'viewer')
    .map((a) => a.roleAssignment.roleIdentifier);
  assert.deepEqual(viewerRoles, ['_account_viewer']);
  assert.equal((await server.api('GET', `/gateway/authz/api/roles/evil?${acc}`)).status, 404);
  // The form page itself is refused, with the permission named.
  const direct = await page.goto(`${server.url}/serviceaccounts/new`);
  assert.equal(direct.status(), 403);
  assert.equal(await page.locator('h1').innerText(), 'Not allowed');
  await shot(page, 'forbidden-viewer');
});

test('6. a POST without the CSRF token is refused; deleting the session token sends the next page to /login', async (t) => {
  const server = await startServer(t);
  const ops = await serviceAccountToken(server, 'ops', '_account_admin', { name: 'Ops' });
  const page = await (await newContext(t, browser)).newPage();
  await signIn(page, server, ops);
  await page.goto(`${server.url}/serviceaccounts/new`);
  // A hand-made POST without the token, and one with a wrong token.
  const none = await postFromPage(page, '/serviceaccounts/new', { name: 'NoCsrf', email: 'x@acme.example' });
  assert.equal(none.status, 403, none.text);
  assert.match(none.text, /security token is missing or stale/);
  const wrongToken = await postFromPage(page, '/serviceaccounts/new', { csrf: 'wrong', name: 'NoCsrf', email: 'x@acme.example' });
  assert.equal(wrongToken.status, 403);
  // The real form with its hidden field removed, submitted by the browser.
  await page.getByLabel('Name', { exact: true }).fill('No Csrf');
  await page.getByLabel('Email').fill('x@acme.example');
  await page.locator('form.card input[name=csrf]').evaluate((el) => el.remove());
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/serviceaccounts/new') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Save' }).click(),
  ]);
  assert.equal(res.status(), 403);
  await page.waitForLoadState();
  assert.equal(await page.locator('h1').innerText(), 'Not allowed');
  await shot(page, 'csrf-refused');
  for (const id of ['NoCsrf', 'No_Csrf']) {
    assert.equal((await server.api('GET', `/gateway/ng/api/serviceaccount/${id}?${acc}`)).status, 404, 'nothing was created');
  }
  // Sign-out without the token is refused too.
  assert.equal((await postFromPage(page, '/logout', {})).status, 403);

  // The session's token is deleted with the admin token: the next page load is /login.
  await page.goto(`${server.url}/users`);
  assert.equal(page.url(), `${server.url}/users`);
  const d = await server.api(
    'DELETE',
    `/gateway/ng/api/token/t?${acc}&apiKeyType=SERVICE_ACCOUNT&parentIdentifier=ops&apiKeyIdentifier=k`,
  );
  assert.equal(d.status, 200, d.text);
  await page.goto(`${server.url}/users`);
  assert.equal(page.url(), `${server.url}/login`);
  // And the session stays gone.
  await page.goto(`${server.url}/`);
  assert.equal(page.url(), `${server.url}/login`);
});

/** Everything the pages below need: users, a group, the SCIM service account with a token, JWT settings. */
async function populated(server, page) {
  for (let i = 0; i < 30; i++) await user(server, `person${String(i).padStart(2, '0')}@acme.example`);
  const alice = await user(server, 'alice.with.a.rather.long.address@subsidiary.acme.example', { displayName: 'Alice Liddell', name: { givenName: 'Alice', familyName: 'Liddell', formatted: 'Alice Liddell' } });
  const grp = await group(server, 'Engineering', [[alice, 'Alice Liddell']]);
  await scimRoleAndServiceAccount(server);
  await signIn(page, server);
  await flagsOn(page, server);
  const jwksDir = path.join(server.dir, 'jwks');
  await cli('jwt', 'keygen', '--alg', 'ES256', '--kid', 'idp-key', '--dir', jwksDir);
  const jwksUrl = await server.serveJwks(jwksDir);
  await saveJwtSettings(page, server, jwksUrl);
  return { alice, grp };
}

/** The console's main pages; `prepare` puts each in the state worth checking. */
function mainPages({ alice, grp }) {
  return [
    ['overview', '/'],
    ['users', '/users'],
    ['user', `/users/${alice}`],
    ['groups', '/groups'],
    ['group', `/groups/${grp}`],
    ['serviceaccounts', '/serviceaccounts'],
    ['serviceaccount-new', '/serviceaccounts/new'],
    [
      'serviceaccount',
      '/serviceaccounts/SCIM_Provisioner_Okta',
      async (page) => {
        // With a token just made, so the shown-once secret is checked too.
        await page.getByLabel('Token name').fill('okta');
        await go(page, page.getByRole('button', { name: 'New token' }));
        await page.locator('#new-secret').waitFor();
      },
    ],
    ['roles', '/roles'],
    ['role-new', '/roles/new'],
    ['role-edit', '/roles/scim'],
    ['resourcegroups', '/resourcegroups'],
    ['resourcegroup-new', '/resourcegroups/new'],
    ['roleassignments', '/roleassignments'],
    ['scim-jwt', '/settings/scim-jwt'],
    ['audit', '/settings/audit'],
    ['auditlog', '/audit'],
    ['scimrequests', '/scim-requests'],
    [
      'scimrequest',
      '/scim-requests',
      async (page) => {
        // One logged request, with its bodies side by side.
        await go(page, page.locator('main table a').first());
        await page.getByRole('heading', { name: 'Response body' }).waitFor();
      },
    ],
    ['webhooks', '/webhooks'],
    ['events', '/events'],
    ['me', '/me'],
  ];
}

test('7. Webhooks: create one (its secret shown once), deliveries with Redeliver; Events filtered by type', async (t) => {
  const server = await startServer(t);
  const got = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ id: req.headers['webhook-id'], signature: req.headers['webhook-signature'], body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('thanks');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => receiver.close());
  const url = `http://127.0.0.1:${receiver.address().port}/hook`;

  const page = await (await newContext(t, browser)).newPage();
  await signIn(page, server);
  await go(page, page.getByRole('link', { name: 'Webhooks', exact: true }));
  await page.getByLabel('Identifier', { exact: true }).fill('crm');
  await page.getByLabel('URL', { exact: true }).fill(url);
  await go(page, page.getByRole('button', { name: 'Create webhook' }));
  assert.equal(await page.locator('h1').innerText(), 'Webhook crm');
  const secret = await page.getByTestId('webhook-secret').innerText();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
  await shot(page, 'webhook-created');
  await page.goto(`${server.url}/webhooks/crm`);
  assert.equal(await page.getByTestId('webhook-secret').count(), 0, 'the secret is shown once');

  await user(server, 'hooked@example.com');
  await until('the event to reach the receiver', () => got.length >= 1);
  assert.equal(got[0].body.type, 'user.created');
  assert.equal(got[0].body.data.userName, 'hooked@example.com');
  assert.match(got[0].signature, /^v1,/);
  await page.goto(`${server.url}/webhooks/crm`);
  const log = await rows(page.locator('main table'));
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.match(log[0][3], /OK\s+200/);
  await go(page, page.getByRole('button', { name: 'Redeliver' }));
  await until('the redelivery', () => got.length >= 2);
  assert.equal(got[1].id, got[0].id, 'a redelivery keeps the event id');
  assert.equal((await rows(page.locator('main table'))).length, 2);
  assert.match((await rows(page.locator('main table')))[0][1], /redelivery/);
  await shot(page, 'webhook-deliveries');

  // Disable it from the form: the next event waits.
  await page.getByLabel('Enabled').uncheck();
  await go(page, page.getByRole('button', { name: 'Save' }));
  assert.match(await page.locator('dl').innerText(), /Disabled/);

  const g = await group(server, 'Hooked', [[got[0].body.data.id, 'hooked']]);
  await go(page, page.getByRole('link', { name: 'Events', exact: true }));
  const all = (await rows(page.locator('main table'))).map((r) => r[2]);
  assert.deepEqual(all, ['user.created', 'user.created', 'group.created', 'group.user_added']);
  await page.getByLabel('Type').selectOption('group.user_added');
  await go(page, page.getByRole('button', { name: 'Filter' }));
  const added = await rows(page.locator('main table'));
  assert.deepEqual(added.map((r) => [r[2], r[3]]), [['group.user_added', g]]);
  await shot(page, 'events');
  assert.equal(got.length, 2, 'nothing went to the disabled webhook');

  // A polled security-event-token subscription: no URL; its page says where to poll and
  // where the key set is, and its log (acknowledgements) has nothing to redeliver.
  await go(page, page.getByRole('link', { name: 'Webhooks', exact: true }));
  await page.getByLabel('Identifier', { exact: true }).fill('siem');
  await page.getByLabel('Format').selectOption('set-poll');
  await go(page, page.getByRole('button', { name: 'Create webhook' }));
  assert.equal(await page.locator('h1').innerText(), 'Webhook siem');
  const facts = await page.locator('dl').innerText();
  assert.match(facts, /Security event tokens, polled \(RFC 8936\)/);
  assert.match(facts, /Poll URL\s+POST \/gateway\/ng\/api\/webhooks\/siem\/poll\?accountIdentifier=/);
  assert.match(facts, /Key set\s+\/gateway\/ng\/api\/events\/jwks\?accountIdentifier=/);
  assert.equal(await page.getByRole('button', { name: 'Redeliver' }).count(), 0);
});

test('accessibility: axe-core finds no serious or critical violation on any main page', async (t) => {
  const server = await startServer(t);
  const page = await (await newContext(t, browser)).newPage();
  const report = {};
  // The harness itself: a page with an unlabelled field and no language has violations.
  const probe = await (await newContext(t, browser)).newPage();
  await probe.setContent('<html><body><input type="text"><img src="data:,"></body></html>');
  const found = (await axe(probe)).violations.map((v) => v.id);
  assert.ok(found.includes('label') && found.includes('html-has-lang') && found.includes('image-alt'), found.join(', '));
  const check = async (name) => {
    await shot(page, `axe-${name}`);
    const { violations, passes, incomplete } = await axe(page);
    assert.ok(passes > 10, `axe ran on ${name} (${passes} rules passed)`);
    report[name] = { passes, incomplete, violations };
    for (const v of violations) t.diagnostic(`${name}: ${v.impact} ${v.id} (${v.help}) on ${v.nodes.map((n) => n.target).join(', ')}`);
  };
  await page.goto(`${server.url}/login`);
  await check('login');
  const data = await populated(server, page);
  for (const [name, p, prepare] of mainPages(data)) {
    await page.goto(server.url + p);
    if (prepare) await prepare(page);
    await check(name);
  }
  // The JWT page with a test result and a key list.
  await page.goto(`${server.url}/settings/scim-jwt`);
  await go(page, page.getByRole('button', { name: 'Fetch keys' }));
  await page.locator('section[aria-labelledby=keys-h] table').waitFor();
  await check('scim-jwt-keys');
  const jwt = await cli('jwt', 'mint', '--key', path.join(server.dir, 'jwks', 'idp-key.pem'), '--alg', 'ES256', '--claim', 'email=scim@acme.example');
  await testToken(page, jwt);
  await check('scim-jwt-test');
  // A page with per-field errors.
  await page.getByLabel('Clock skew (seconds)').fill('100000');
  await go(page, page.getByRole('button', { name: 'Save' }));
  await page.locator('.field-error').waitFor();
  await check('scim-jwt-errors');
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'axe.json'), `${JSON.stringify(report, null, 2)}\n`);
  const counts = {};
  for (const { violations } of Object.values(report)) for (const v of violations) counts[v.impact] = (counts[v.impact] ?? 0) + 1;
  t.diagnostic(`axe: ${Object.keys(report).length} pages, violations by impact ${JSON.stringify(counts)} (target/e2e/axe.json)`);
  const bad = Object.entries(report).flatMap(([name, { violations }]) =>
    violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`),
  );
  assert.deepEqual(bad, [], 'no serious or critical axe violations');
});

test('a 390 px wide viewport: the pages do not scroll sideways', async (t) => {
  const server = await startServer(t);
  const context = await newContext(t, browser, { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const data = await populated(server, page);
  const overflow = {};
  const narrowA11y = [];
  for (const [name, p, prepare] of mainPages(data)) {
    await page.goto(server.url + p);
    if (prepare) await prepare(page);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    overflow[name] = width;
    // axe at this width too (a table that scrolls sideways must be reachable by keyboard).
    for (const v of (await axe(page)).violations) {
      if (v.impact === 'serious' || v.impact === 'critical') narrowA11y.push(`${name}: ${v.impact} ${v.id} (${v.nodes.map((n) => n.target).join(', ')})`);
    }
    await shot(page, `${name}-390`);
  }
  // Signed out: the sign-in page.
  const signedOut = await (await newContext(t, browser, { width: 390, height: 844, isMobile: true, hasTouch: true })).newPage();
  await signedOut.goto(`${server.url}/login`);
  overflow.login = await signedOut.evaluate(() => document.documentElement.scrollWidth);
  await shot(signedOut, 'login-390');
  t.diagnostic(`scrollWidth at 390 px: ${JSON.stringify(overflow)}`);
  const wide = Object.entries(overflow).filter(([, w]) => w > 391);
  assert.deepEqual(wide, [], 'no page is wider than the 390 px viewport');
  assert.deepEqual(narrowA11y, [], 'no serious or critical axe violations at 390 px');
});
