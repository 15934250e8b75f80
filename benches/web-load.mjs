// The web app at fleet scale: a release `spectra serve` on SQLite with 1,000 agents (an hour
// of CPU, memory and root-disk samples each, and 30 days for one of them), all 1,000 sending a
// batch every 10 s (an agent's default batch age) throughout. Measures, in one run:
//   - GET /api/v1/overview: p50 / p95 over 200 requests (sorts, filters, search);
//   - cold loads in Chromium (new context, empty cache): the overview until its table shows,
//     an agent page with 30 days until every chart has drawn (navigation + resource timing);
//   - the initial JavaScript, gzipped;
//   - the server's CPU over 60 s with 0 and with 50 open overview pages (each polls every
//     10 s), from /proc/PID/stat.
// Prints one JSON object. Run by benches/web-load.sh (which builds the release binary).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');
const bin = process.env.SPECTRA_BIN;
const AGENTS = Number(process.env.AGENTS ?? 1000);
const ENROLL = 'bench-enrollment-token';
const work = mkdtempSync(join(tmpdir(), 'spectra-web-load-'));
const log = (text) => process.stderr.write(`web-load: ${text}\n`);

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
}
const median = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);

async function startServer() {
  const server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--db', join(work, 'bench.db'),
    '--enrollment-token', ENROLL, '--agent-requests-per-minute', '1000000', '--maintenance-interval', '5s'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  const url = await new Promise((resolve, reject) => {
    let text = '';
    server.stdout.on('data', (d) => {
      text += d;
      const m = text.match(/listening on (\S+)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', () => reject(new Error('the server exited')));
  });
  return { server, url };
}

async function pool(items, width, work) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

function envelopes(host, at, cpu) {
  const ts = new Date(at).toISOString();
  return [
    { type: 'cpu', timestamp: ts, hostname: host, data: { total: { usage_percent: cpu }, load_1: cpu / 50, load_5: cpu / 60, load_15: cpu / 70 } },
    { type: 'memory', timestamp: ts, hostname: host, data: { total: 16e9, used: 4e9 + cpu * 1e8 } },
    { type: 'disk', timestamp: ts, hostname: host, data: { mount_point: '/', total: 5e11, used: 2e11, usage_percent: 40 + (cpu % 10) } },
  ];
}

async function upload(url, token, list) {
  const body = gzipSync(JSON.stringify({ version: 1, batch_id: randomUUID(), envelopes: list }));
  const response = await fetch(`${url}/api/v1/metrics`, {
    method: 'POST', body, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
  });
  if (!response.ok) throw new Error(`upload: ${response.status} ${await response.text()}`);
}

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function main() {
  const { server, url } = await startServer();
  const agents = [];
  await pool(Array.from({ length: AGENTS }, (_, i) => i), 32, async (i) => {
    const hostname = `host-${String(i).padStart(4, '0')}`;
    const response = await fetch(`${url}/api/v1/agent/register`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ enrollment_token: ENROLL, hostname, os: i % 5 ? 'linux' : 'macos', version: '0.1.0', machine_id: `bench-${i}`, labels: { rack: `r${i % 10}` } }),
    });
    const answer = await response.json();
    agents.push({ hostname, id: answer.agent_id, token: answer.agent_token });
  });
  log(`${agents.length} agents enrolled`);
  const now = Date.now();
  await pool(agents, 16, async (a) => {
    const list = [];
    for (let m = 60; m >= 1; m -= 1) list.push(...envelopes(a.hostname, now - m * 60_000, (m * 7 + a.hostname.length) % 100));
    await upload(url, a.token, list);
  });
  log('an hour of samples for every agent');
  const deep = agents[0];
  for (let day = 30; day >= 0; day -= 1) {
    const list = [];
    for (let m = 0; m < 24 * 60; m += 10) {
      const at = now - day * 86_400_000 - m * 60_000;
      if (at < now - 3_600_000) list.push(...envelopes(deep.hostname, at, (m / 10 + day * 3) % 100));
    }
    await upload(url, deep.token, list);
  }
  log(`30 days of samples for ${deep.hostname}`);

  // Every agent keeps sending, a batch each 10 s, spread over the 10 s.
  let sending = true;
  const senders = (async () => {
    while (sending) {
      const round = Date.now();
      await pool(agents, 8, async (a) => {
        if (sending) await upload(url, a.token, envelopes(a.hostname, Date.now(), Math.random() * 100)).catch(() => {});
      });
      await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - round))));
    }
  })();

  // A user, signed in, for the browser; an admin token for the API timings.
  const tokenOut = await new Promise((resolve) => {
    const p = spawn(bin, ['token', 'create', '--db', join(work, 'bench.db'), '--role', 'admin', '--name', 'bench'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', () => resolve(out.trim()));
  });
  const auth = { Authorization: `Bearer ${tokenOut}` };
  await fetch(`${url}/api/v1/users`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'bench', role: 'admin', password: 'bench password' }) });

  // A login's time must not tell whether the name exists: 10 unknown names against 10 real
  // users with a wrong password (each once: the throttle counts 5 per account, 30 per address).
  const loginMs = { unknown: [], wrong_password: [] };
  for (let i = 0; i < 10; i += 1) {
    await fetch(`${url}/api/v1/users`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: `real-${i}`, role: 'viewer', password: 'the real password' }) });
  }
  for (let i = 0; i < 10; i += 1) {
    for (const [kind, user] of [['unknown', `ghost-${i}`], ['wrong_password', `real-${i}`]]) {
      const started = performance.now();
      const response = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user, password: 'not the password' }) });
      await response.arrayBuffer();
      if (response.status !== 401) throw new Error(`login ${user}: ${response.status}`);
      loginMs[kind].push(performance.now() - started);
    }
  }

  // Wait until the rollups cover the 30 days (the agent page reads them).
  for (let i = 0; i < 240; i += 1) {
    const history = await (await fetch(`${url}/api/v1/metrics/query?agent=${deep.id}&type=cpu&from=-30d`, { headers: auth })).json();
    const points = history.series?.find((s) => s.field === 'total.usage_percent')?.points.length ?? 0;
    if (points > 250) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  log('rollups in place');

  const queries = ['', 'sort=cpu&order=desc', 'sort=memory', 'label=rack%3Dr3', 'q=host-01', 'os=macos&sort=disk&order=desc', 'status=online&sort=last_seen'];
  const overviewMs = [];
  for (let i = 0; i < 200; i += 1) {
    const started = performance.now();
    const response = await fetch(`${url}/api/v1/overview?${queries[i % queries.length]}`, { headers: auth });
    await response.arrayBuffer();
    overviewMs.push(performance.now() - started);
  }
  overviewMs.sort((a, b) => a - b);

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const login = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'bench', password: 'bench password' }) });
  const cookie = login.headers.get('set-cookie').split(';')[0].split('=')[1];
  const cold = async (path, ready) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addCookies([{ name: 'spectra_session', value: cookie, url }]);
    const page = await context.newPage();
    await page.goto(url + path);
    await page.waitForFunction(ready, null, { timeout: 30_000, polling: 10 });
    const timing = await page.evaluate(() => ({
      shown: performance.now(),
      bytes: performance.getEntriesByType('resource').reduce((n, r) => n + r.transferSize, 0) + (performance.getEntriesByType('navigation')[0]?.transferSize ?? 0),
    }));
    await context.close();
    return timing;
  };
  const overviewLoads = [];
  const agentLoads = [];
  for (let i = 0; i < 5; i += 1) {
    overviewLoads.push(await cold('/', () => document.querySelectorAll('tbody tr').length >= 50));
    agentLoads.push(await cold(`/agents/${deep.id}?range=30d`, () => {
      const charts = [...document.querySelectorAll('figure.chart')];
      return charts.length >= 4 && charts.every((c) => Number(c.dataset.points) > 0);
    }));
  }

  const assets = join(here, '..', 'spectra-server', 'web-dist', 'assets');
  const initialJs = readdirSync(assets).filter((f) => f.endsWith('.js')).reduce((n, f) => n + gzipSync(readFileSync(join(assets, f))).length, 0);

  const ticksPerSecond = 100;
  const cpuOver = async (seconds) => {
    const before = cpuTicks(server.pid);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return ((cpuTicks(server.pid) - before) / ticksPerSecond / seconds) * 100;
  };
  const idleCpu = await cpuOver(60);
  const contexts = [];
  for (let i = 0; i < 50; i += 1) {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'spectra_session', value: cookie, url }]);
    const page = await context.newPage();
    await page.goto(`${url}/`);
    contexts.push(context);
  }
  await new Promise((r) => setTimeout(r, 5000));
  const pagesCpu = await cpuOver(60);
  for (const context of contexts) await context.close();
  await browser.close();
  sending = false;
  await senders;
  server.kill('SIGTERM');

  console.log(JSON.stringify({
    agents: AGENTS,
    overview_api_ms: { p50: +quantile(overviewMs, 0.5).toFixed(1), p95: +quantile(overviewMs, 0.95).toFixed(1), requests: overviewMs.length },
    overview_cold_load_ms: +median(overviewLoads.map((l) => l.shown)).toFixed(0),
    overview_transfer_kb: +(median(overviewLoads.map((l) => l.bytes)) / 1024).toFixed(0),
    agent_30d_cold_load_ms: +median(agentLoads.map((l) => l.shown)).toFixed(0),
    initial_js_gzip_kb: +(initialJs / 1024).toFixed(1),
    failed_login_ms: { unknown_user: +median(loginMs.unknown).toFixed(1), wrong_password: +median(loginMs.wrong_password).toFixed(1) },
    server_cpu_percent: { agents_sending_no_pages: +idleCpu.toFixed(1), with_50_open_pages: +pagesCpu.toFixed(1) },
  }));
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
