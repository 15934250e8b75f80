// The web app in Debian's Chromium (playwright-core, headless) against a real `spectra serve`
// and two real `spectra agent` processes. Exits non-zero on the first failed check; saves a
// screenshot of every page in both themes under web/screenshots/ (a test artifact).
//
// SPECTRA_BIN: the spectra binary (default: $CARGO_TARGET_DIR or ~/.cache/spectra-target,
// debug). CHROMIUM: the browser (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const targetDir = process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache', 'spectra-target');
const bin = process.env.SPECTRA_BIN ?? join(targetDir, 'debug', 'spectra');
const shots = join(here, '..', 'screenshots');
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'spectra-e2e-'));
const ENROLL = 'e2e-enrollment-token-0123456789';
const children = [];
const deadline = setTimeout(() => {
  console.error('e2e: took longer than 10 minutes');
  stopAll();
  process.exit(1);
}, 10 * 60 * 1000);

function stopAll() {
  for (const child of children) child.kill('SIGTERM');
}

function step(text) {
  console.log(`e2e: ${text}`);
}

async function startServer() {
  const server = spawn(bin, [
    'serve', '--listen', '127.0.0.1:0', '--db', join(work, 'hub.db'),
    '--enrollment-token', ENROLL, '--maintenance-interval', '2s', '--alert-interval', '2s',
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  children.push(server);
  server.stderr.on('data', (d) => process.stderr.write(`[serve] ${d}`));
  const lines = createInterface({ input: server.stdout });
  let url = null;
  let setup = null;
  for await (const line of lines) {
    const listening = line.match(/^spectra serve: listening on (\S+)/);
    if (listening) url = listening[1];
    const link = line.match(/^spectra serve: create the first admin at (\S+)/);
    if (link) setup = link[1];
    if (url && setup) break;
  }
  assert.ok(url && setup, 'the server printed its address and a setup link');
  return { url, setup };
}

function startAgent(url, name, rack) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'agent.toml');
  writeFileSync(config, [
    `server = "${url}"`, `enrollment_token = "${ENROLL}"`, `state_dir = "${join(dir, 'state')}"`,
    `hostname = "${name}"`, `machine_id = "e2e-${name}"`, 'batch_max_age = "1s"', 'heartbeat = "2s"',
    'diagnostics = ["mounts", "ping", "netstat"]', 'roots = []', `labels = { rack = "${rack}" }`,
    '[collectors]', 'cpu = "1s"', 'memory = "1s"', 'disk = "2s"', 'disk_io = "2s"', 'network = "2s"',
    'processes = "3s"', 'services = "off"', 'containers = "off"', 'wifi = "off"', 'applications = "off"',
    'raspberry_pi = "off"', 'temperature = "off"', 'system = "off"', '',
  ].join('\n'));
  const agent = spawn(bin, ['agent', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  agent.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
  children.push(agent);
}

async function until(what, check, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`e2e: timed out waiting for ${what} (last: ${last})`);
}

/// Runs axe-core in the page (through the debugger protocol, which the page's CSP does not
/// govern) and fails on any serious or critical violation.
async function accessible(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`), [], `${name}: accessibility`);
}

async function shoot(browser, storage, url, path, name, waitFor) {
  for (const scheme of ['light', 'dark']) {
    const context = await browser.newContext({ storageState: storage, colorScheme: scheme, viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    lastPage = page;
    watchCsp(page, name);
    await page.goto(url + path);
    await page.waitForSelector(waitFor);
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), scheme);
    await accessible(page, `${name} (${scheme})`);
    await page.screenshot({ path: join(shots, `${name}-${scheme}.png`), fullPage: true });
    await context.close();
  }
}

const cspViolations = [];
let lastPage = null;
function watchCsp(page, name) {
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) cspViolations.push(`${name}: ${message.text()}`);
  });
  page.on('pageerror', (error) => cspViolations.push(`${name}: page error ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`[${name} console] ${message.text()}`);
  });
}

async function main() {
  const { url, setup } = await startServer();
  step(`server at ${url}`);
  startAgent(url, 'web-1', 'a');
  startAgent(url, 'db-1', 'b');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // First admin from the setup link.
    const admin = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await admin.newPage();
    lastPage = page;
    watchCsp(page, 'admin');
    await page.goto(setup);
    await page.getByLabel('User name').fill('root');
    await page.getByLabel('Password (at least 10 characters)').fill('root password 1');
    await page.getByRole('button', { name: 'Create and sign in' }).click();
    await page.waitForSelector('h1:has-text("Fleet")');
    step('first admin created from the setup link');
    const cookies = await admin.cookies();
    const session = cookies.find((c) => c.name === 'spectra_session');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');

    // The overview shows both agents, and filters by label.
    await until('both agents in the table', async () => (await page.locator('tbody tr').count()) === 2, 45_000);
    await until('CPU values in the table', async () => !(await page.locator('td[data-column="cpu"] .usage-text').first().textContent()).includes('—'), 30_000);
    await page.goto(`${url}/?label=rack%3Db`);
    await until('only db-1 for rack=b', async () => {
      const hosts = await page.locator('td[data-column="hostname"]').allTextContents();
      return hosts.length === 1 && hosts[0] === 'db-1';
    });
    await page.reload();
    await page.waitForSelector('td[data-column="hostname"]');
    assert.deepEqual(await page.locator('td[data-column="hostname"]').allTextContents(), ['db-1'], 'the filter is in the URL and survives a reload');
    step('overview lists the agents and filters by label');

    // An agent page: its CPU chart moves as data arrives; a deep link survives a reload.
    await page.goto(`${url}/`);
    await page.getByRole('link', { name: 'web-1' }).click();
    await page.waitForSelector('figure.chart[data-points]');
    const agentUrl = page.url();
    const cpuChart = page.locator('figure.chart', { hasText: 'CPU use' });
    const before = Number(await cpuChart.getAttribute('data-points'));
    await until('the CPU chart to gain points', async () => Number(await cpuChart.getAttribute('data-points')) > before, 40_000);
    step(`agent chart moved (${before} points, then more)`);
    await page.goto(`${agentUrl}?range=24h&tab=processes`);
    await page.reload();
    await page.waitForSelector('table th:has-text("pid")');
    assert.equal(await page.getByRole('tab', { name: 'processes' }).getAttribute('aria-selected'), 'true');
    step('deep link to the processes tab survives a reload');

    // A diagnostic from the page, and its result when it arrives.
    await page.getByRole('tab', { name: 'diagnostics' }).click();
    await page.locator('form[aria-label="Run a diagnostic"] select').selectOption('mounts');
    await page.getByRole('button', { name: 'Run' }).click();
    await until('the diagnostic to succeed', async () => (await page.locator('.command-succeeded').count()) === 1, 40_000);
    assert.match(await page.locator('pre.output').textContent(), /mount_point|"\/"/);
    step('diagnostic ran and its result came back');

    // An alert rule with a typo: the server's error with a caret under the column; then it fires.
    await page.goto(`${url}/alerts?tab=rules`);
    await page.getByRole('button', { name: 'New rule' }).click();
    await page.getByLabel('Name').fill('cpu-busy');
    await page.getByLabel('Condition').fill('cpu.total.usage_percent >> 0');
    await page.getByRole('button', { name: 'Save rule' }).click();
    const caret = page.locator('#condition-error pre.caret');
    await caret.waitFor();
    const caretText = await caret.textContent();
    const [ruleLine, caretLine] = caretText.split('\n');
    assert.equal(ruleLine, 'cpu.total.usage_percent >> 0');
    assert.equal(caretLine.indexOf('^'), ruleLine.indexOf('>>') + 1, `the caret is under the typo: ${caretText}`);
    await page.screenshot({ path: join(shots, 'alert-rule-error.png'), fullPage: true });
    await page.getByLabel('Condition').fill('cpu.total.usage_percent >= 0');
    await page.getByRole('button', { name: 'Save rule' }).click();
    await page.waitForSelector('td:has-text("cpu-busy")');
    await page.goto(`${url}/alerts`);
    await until('the rule to fire', async () => (await page.locator('.badge-firing').count()) >= 1, 60_000);
    step('rule with a typo refused with a caret, then fixed and firing');

    // A viewer: no edit controls, and forged writes refused.
    await page.goto(`${url}/users`);
    await page.getByLabel('Name').fill('vera');
    await page.getByLabel('Password').fill('viewer password');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.waitForSelector('td:has-text("vera")');
    const viewerContext = await browser.newContext();
    const viewer = await viewerContext.newPage();
    lastPage = viewer;
    watchCsp(viewer, 'viewer');
    await viewer.goto(`${url}/login`);
    for (let i = 0; i < 6; i += 1) {
      await viewer.getByLabel('User name').fill('vera');
      await viewer.getByLabel('Password').fill('wrong password');
      await viewer.getByRole('button', { name: 'Sign in' }).click();
      await viewer.waitForSelector('.state.error');
    }
    assert.match(await viewer.locator('.state.error').textContent(), /too many failed logins/);
    step('a wrong password is refused, then throttled');
    // The throttle holds for the rest of the minute; an admin signs vera in through a new session the server makes.
    const viewerSession = await until('vera to be let in after the throttle window', async () => {
      const response = await fetch(`${url}/api/v1/session`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: 'vera', password: 'viewer password' }),
      });
      return response.status === 200 ? response.headers.get('set-cookie').split(';')[0].split('=')[1] : null;
    }, 65_000);
    await viewerContext.addCookies([{ name: 'spectra_session', value: viewerSession, url }]);
    await viewer.goto(`${url}/`);
    await viewer.waitForSelector('tbody tr');
    assert.equal(await viewer.getByRole('link', { name: 'Users' }).count(), 0, 'no Users page for a viewer');
    await viewer.getByRole('link', { name: 'web-1' }).click();
    await viewer.waitForSelector('dl.facts');
    assert.equal(await viewer.getByRole('button', { name: 'Deregister' }).count(), 0);
    await viewer.goto(`${url}/alerts?tab=rules`);
    await viewer.waitForSelector('td:has-text("cpu-busy")');
    assert.equal(await viewer.getByRole('button', { name: 'New rule' }).count(), 0);
    assert.equal(await viewer.getByRole('button', { name: 'Delete' }).count(), 0);
    const forged = await viewer.evaluate(async () => {
      const session = await (await fetch('/api/v1/session')).json();
      const rule = JSON.stringify({ name: 'forged', condition: 'cpu.total.usage_percent > 1' });
      const withToken = await fetch('/api/v1/alert-rules', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token }, body: rule });
      const withoutToken = await fetch('/api/v1/alert-rules', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: rule });
      return { withToken: withToken.status, withoutToken: withoutToken.status, message: (await withoutToken.json()).message };
    });
    assert.deepEqual([forged.withToken, forged.withoutToken], [403, 403], JSON.stringify(forged));
    assert.match(forged.message, /x-csrf-token/);
    step('a viewer sees no edit control; forged writes are refused (role and CSRF)');

    // An API token for a script, made on the settings page and shown once.
    await page.goto(`${url}/settings`);
    await page.getByLabel('Name').fill('nightly-report');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.locator('code.secret').textContent();
    assert.match(secret, /^spectra_[0-9a-f]+_[0-9a-f]+$/);
    const withToken = await fetch(`${url}/api/v1/overview`, { headers: { Authorization: `Bearer ${secret}` } });
    assert.equal(withToken.status, 200, 'the new token works for a script');
    await page.waitForSelector('td:has-text("nightly-report")');
    step('an API token made on the settings page works');

    // Screenshots and accessibility of every page, in both themes.
    const storage = await admin.storageState();
    const agentId = new URL(agentUrl).pathname.split('/').pop();
    const pages = [
      ['overview', '/', 'tbody tr'],
      ['agent', `/agents/${agentId}`, 'figure.chart'],
      ['agent-processes', `/agents/${agentId}?tab=processes`, 'table th'],
      ['alerts', '/alerts', '.badge-firing'],
      ['alert-rules', '/alerts?tab=rules', 'td'],
      ['health', '/health', 'tbody tr'],
      ['users', '/users', 'td'],
      ['account', '/account', '.sessions li'],
      ['settings', '/settings', 'td'],
    ];
    for (const [name, path, waitFor] of pages) await shoot(browser, storage, url, path, name, waitFor);
    for (const scheme of ['light', 'dark']) {
      const context = await browser.newContext({ colorScheme: scheme });
      const login = await context.newPage();
      await login.goto(`${url}/login`);
      await login.waitForSelector('form');
      await accessible(login, `login (${scheme})`);
      await login.screenshot({ path: join(shots, `login-${scheme}.png`) });
      await context.close();
    }
    const phone = await browser.newContext({ storageState: storage, viewport: { width: 390, height: 844 }, isMobile: true });
    const phonePage = await phone.newPage();
    await phonePage.goto(`${url}/`);
    await phonePage.waitForSelector('tbody tr');
    await phonePage.screenshot({ path: join(shots, 'overview-phone.png'), fullPage: true });
    await phone.close();
    step('every page passes axe-core (no serious or critical violation) in both themes; screenshots saved');

    // Sign-out ends the session on the server: the old cookie no longer works.
    const old = (await admin.cookies()).find((c) => c.name === 'spectra_session').value;
    await page.goto(`${url}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('h1:has-text("Sign in")');
    const replay = await fetch(`${url}/api/v1/session`, { headers: { Cookie: `spectra_session=${old}` } });
    assert.equal(replay.status, 401, 'the signed-out session is gone on the server');
    step('sign-out ended the session on the server');

    assert.deepEqual(cspViolations, [], 'no CSP violation or page error');
  } catch (error) {
    if (lastPage) {
      await lastPage.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
      console.error(`e2e: failed on ${lastPage.url()}; screenshot in web/screenshots/failure.png`);
    }
    throw error;
  } finally {
    await browser.close();
  }
}

main()
  .then(() => {
    step('all checks passed');
    clearTimeout(deadline);
    stopAll();
  })
  .catch((error) => {
    console.error(error);
    clearTimeout(deadline);
    stopAll();
    process.exit(1);
  });
