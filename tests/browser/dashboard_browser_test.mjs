// The dashboard in a real browser (Debian's chromium, headless, driven over
// the DevTools protocol by ./cdp.mjs): starts the real sink on port 0, posts
// the scenario of ./scenario.mjs, opens / and checks what a person sees —
// the live count, the media in the top-media table, charts with data drawn,
// the explorer filtered by a user, one session's timeline in order, a
// user's page; then a sink with --read-token: the page asks for the token
// and shows no data until it is given, never puts it in a URL, and keeps it
// for the tab. Screenshots go to ARTIFACT_DIR.
//
//   node dashboard_browser_test.mjs SESSIONSINK_BIN ARTIFACT_DIR
//
// Bounded: every wait has a timeout, and the whole run stops after kDeadlineMs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Browser } from './cdp.mjs';
import { ALICE_PLAY, ALICE_TIMELINE, LIVE, MEDIA, post, scenario } from './scenario.mjs';

const kDeadlineMs = 150000;
const [sinkBin, artifacts] = process.argv.slice(2);
if (!sinkBin || !artifacts) {
  console.error('usage: node dashboard_browser_test.mjs SESSIONSINK_BIN ARTIFACT_DIR');
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sessionsink-dashboard-'));
const children = [];
let browser = null;

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name} ${detail}`);
  }
}

async function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  try {
    if (browser) await browser.close();
  } catch (e) {
    console.log(`note: closing chromium: ${e.message}`);
  }
  if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`kept ${tmp}`);
}
const watchdog = setTimeout(async () => {
  console.log(`FAIL - the test did not finish within ${kDeadlineMs / 1000} s`);
  await cleanup();
  process.exit(1);
}, kDeadlineMs);

// Starts `sessionsink serve` on 127.0.0.1:0; resolves with its base URL.
function startSink(name, extra) {
  const log = path.join(tmp, `${name}.log`);
  const out = fs.openSync(log, 'w');
  const p = spawn(sinkBin, ['serve', '--listen', '127.0.0.1:0', '--db', path.join(tmp, `${name}.db`), ...extra],
    { stdio: ['ignore', out, out] });
  children.push(p);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(fs.readFileSync(log, 'utf8'));
      if (m) return resolve({ base: m[1], log });
      if (p.exitCode !== null) return reject(new Error(`the sink exited: ${fs.readFileSync(log, 'utf8')}`));
      if (Date.now() - t0 > 30000) return reject(new Error('the sink did not start in 30 s'));
      setTimeout(poll, 50);
    };
    poll();
  });
}

const text = (sel) => `(document.querySelector(${JSON.stringify(sel)})?.textContent ?? '').trim()`;
const column = (table, i) => `[...document.querySelectorAll('${table} tbody tr:not([hidden])')].map((r) => (r.children[${i}]?.textContent ?? '').trim())`;

// Pixels of a chart's canvas that differ from the background: something was drawn.
const drawnPixels = (sel) => `(() => {
  const c = document.querySelector('${sel} canvas'); if (!c) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > d[i] + 60) n++;  // bluish: the series
  return n; })()`;

async function main() {
  browser = await Browser.launch({ executable: process.env.CHROMIUM || '/usr/bin/chromium', logFile: path.join(tmp, 'chromium.log') });

  // ---- open sink: the page shows the data at once ----------------------
  const open = await startSink('open', []);
  await post(open.base, scenario());
  const page = await browser.newPage(1400, 1000);
  await page.goto(`${open.base}/`);
  const live = await page.waitFor(`${text('#live-total')} === '${LIVE.total}' && ${text('#live-total')}`, 'the live count', 30000)
    .catch((e) => e.message);
  check('Now: the live count', live === String(LIVE.total), live);
  check('Now: playing and stalling',
    (await page.eval(text('#live-playing'))) === String(LIVE.running) && (await page.eval(text('#live-stalling'))) === String(LIVE.stalling),
    `${await page.eval(text('#live-playing'))} / ${await page.eval(text('#live-stalling'))}`);

  await page.waitFor(`document.querySelectorAll('#media-table tbody tr').length >= 2`, 'the top-media table').catch(() => {});
  const media = await page.eval(column('#media-table', 0));
  check('Top media: every media of the scenario is listed', MEDIA.every((m) => media.includes(m)), JSON.stringify(media));
  check('Top media: hockey1 has the most attempts', media[0] === 'hockey1', JSON.stringify(media));

  await page.waitFor(`document.querySelector('#conc-chart')?.dataset.points > 0 && ${drawnPixels('#conc-chart')} > 50`, 'the concurrency chart').catch(() => {});
  check('Concurrency: a canvas with data points', (await page.eval(`+document.querySelector('#conc-chart').dataset.points || 0`)) > 0);
  check('Concurrency: the series is drawn', (await page.eval(drawnPixels('#conc-chart'))) > 50, `${await page.eval(drawnPixels('#conc-chart'))} pixels`);
  await page.waitFor(`${drawnPixels('#dur-chart')} > 50`, 'the durations histogram').catch(() => {});
  check('Durations: the histogram is drawn', (await page.eval(drawnPixels('#dur-chart'))) > 50);
  await page.waitFor(`document.querySelectorAll('#funnel-bars .row').length > 0 && document.querySelectorAll('#stalls-table tbody tr').length > 0`, 'the funnel and stalls').catch(() => {});
  const funnel = await page.eval(`[...document.querySelectorAll('#funnel-bars .row')].map((r) => r.dataset.metric + ' ' + r.querySelector('.n').textContent)`);
  check('Startup funnel: 6 played, 1 denied, 1 exited', ['played 6', 'denied 1', 'exited 1'].every((m) => funnel.some((f) => f.startsWith(m))), JSON.stringify(funnel));
  const stalls = await page.eval(column('#stalls-table', 0));
  check('Stalls by media: hockey1 first', stalls[0] === 'hockey1', JSON.stringify(stalls));
  await page.waitFor(`document.querySelectorAll('#sessions-table tbody tr.click').length === 10`, 'the explorer').catch(() => {});
  check('Sessions: the explorer lists every session', (await page.eval(`document.querySelectorAll('#sessions-table tbody tr.click').length`)) === 10);
  await page.screenshot(path.join(artifacts, 'dashboard.png'));

  // The explorer filtered by a user, as a person types it.
  await page.type('#filters input[name=user]', 'alice');
  await page.click('#filters button[type=submit]');
  await page.waitFor(`${column('#sessions-table', 6)}.length === 2 && ${column('#sessions-table', 6)}.every((u) => u === 'alice')`, 'the explorer filtered by alice')
    .catch(() => {});
  const users = await page.eval(column('#sessions-table', 6));
  check('Sessions: filtered by user alice', users.length === 2 && users.every((u) => u === 'alice'), JSON.stringify(users));

  // One session's timeline: its events in time order with the state each led to.
  await page.click(`#sessions-table tbody tr[data-id="${ALICE_PLAY}"]`);
  await page.waitFor(`!document.querySelector('#timeline').hidden && document.querySelectorAll('#tl-events tbody tr.click').length > 0`, 'the timeline')
    .catch(() => {});
  const events = await page.eval(`[...document.querySelectorAll('#tl-events tbody tr.click')].map((r) => [r.children[1].textContent, r.children[2].textContent])`);
  check('Timeline: every event of the session, in time order, with its state',
    JSON.stringify(events) === JSON.stringify(ALICE_TIMELINE), JSON.stringify(events));
  const times = await page.eval(`[...document.querySelectorAll('#tl-events tbody tr.click time')].map((t) => [t.textContent, t.title])`);
  check('Timeline: local times with UTC on hover', times.length === ALICE_TIMELINE.length && times.every(([, t]) => / UTC$/.test(t)), JSON.stringify(times[0]));
  check('Timeline: its stall', (await page.eval(`document.querySelectorAll('#tl-stalls tbody tr').length`)) === 1);
  check('Timeline: its source and the source stall',
    (await page.eval(text('#tl-source-id'))).includes('src-hockey') && (await page.eval(`document.querySelectorAll('#tl-source-stalls tbody tr td.num').length`)) === 1,
    await page.eval(text('#tl-source-id')));
  check('Timeline: the state strip is drawn', (await page.eval(`document.querySelectorAll('#tl-strip rect[data-state]').length`)) === ALICE_TIMELINE.length - 1);
  await page.eval(`document.querySelector('#timeline').scrollIntoView()`);
  await page.screenshot(path.join(artifacts, 'timeline.png'));

  // A user's page, through the search box.
  await page.type('#user-q', 'ali');
  await page.waitFor(`[...document.querySelectorAll('#user-names option')].some((o) => o.value === 'alice')`, 'the user search').catch(() => {});
  check('Per user: the search finds alice', await page.eval(`[...document.querySelectorAll('#user-names option')].some((o) => o.value === 'alice')`));
  await page.eval(`document.querySelector('#user-q').value = 'alice'`);
  await page.click('#user-form button[type=submit]');
  await page.waitFor(`!document.querySelector('#user-body').hidden && document.querySelectorAll('#user-nets tbody tr').length === 2`, "alice's page").catch(() => {});
  check('Per user: two networks', (await page.eval(`document.querySelectorAll('#user-nets tbody tr').length`)) === 2);
  check('Per user: the sharing report sees the overlap', /1 pairs? of plays overlapped/.test(await page.eval(text('#user-sharing'))), await page.eval(text('#user-sharing')));
  check('no errors in the page', page.errors.length === 0, JSON.stringify(page.errors));

  // ---- the README's example batch (2021): the page finds it -------------
  const example = await startSink('example', []);
  const batch = JSON.parse(fs.readFileSync(new URL('../../docs/examples/flussonic-batch.json', import.meta.url), 'utf8'));
  await post(example.base, batch);
  await page.goto(`${example.base}/`);
  await page.waitFor(`document.querySelectorAll('#sessions-table tbody tr.click').length === 3 && ${column('#media-table', 0)}.includes('hockey1')`, 'the example sessions').catch(() => {});
  check("README example: an old batch is shown (the window moves to its day)",
    (await page.eval(`document.querySelectorAll('#sessions-table tbody tr.click').length`)) === 3 &&
    (await page.eval(`document.querySelector('#window').value`)) === 'custom' &&
    (await page.eval(column('#media-table', 0))).includes('hockey1'),
    await page.eval(`JSON.stringify([document.querySelectorAll('#sessions-table tbody tr.click').length, document.querySelector('#window').value, document.querySelector('#status').textContent])`));

  // ---- a sink with a read token: prompt first, no data -----------------
  const ingest = 'ingest-secret-4711';
  const read = 'read-secret-0815';
  const locked = await startSink('locked', ['--token', ingest, '--read-token', read]);
  await post(locked.base, scenario(), ingest);
  await page.close();
  const p2 = await browser.newPage(1400, 900);
  await p2.goto(`${locked.base}/`);
  await p2.waitFor(`!document.querySelector('#login').hidden`, 'the token prompt').catch(() => {});
  check('Token: the page asks for it', await p2.eval(`!document.querySelector('#login').hidden`));
  check('Token: no data without it', (await p2.eval(`document.querySelector('#main').hidden`)) &&
    (await p2.eval(text('#live-total'))) === '–' && (await p2.eval(`document.querySelectorAll('tbody tr').length`)) === 0);
  await p2.screenshot(path.join(artifacts, 'token-prompt.png'));

  await p2.type('#token', 'wrong-token');
  await p2.click('#login-form button[type=submit]');
  await p2.waitFor(`!document.querySelector('#login-error').hidden`, 'the refusal').catch(() => {});
  check('Token: a wrong one is refused', (await p2.eval(text('#login-error'))).includes('refused') && (await p2.eval(`document.querySelector('#main').hidden`)));

  await p2.type('#token', read);
  await p2.click('#login-form button[type=submit]');
  const live2 = await p2.waitFor(`${text('#live-total')} === '${LIVE.total}' && ${text('#live-total')}`, 'data with the token').catch((e) => e.message);
  check('Token: the read token opens the dashboard', live2 === String(LIVE.total), live2);
  await p2.waitFor(`document.querySelectorAll('#sessions-table tbody tr.click').length === 10`, 'the explorer').catch(() => {});
  check('Token: never in a URL', p2.requests.every((r) => !r.url.includes(read) && !r.url.includes('token=')),
    JSON.stringify(p2.requests.filter((r) => r.url.includes(read)).map((r) => r.url)));
  check('Token: sent as Authorization: Bearer',
    p2.requests.filter((r) => r.url.includes('/api/') && r.headers.Authorization === `Bearer ${read}`).length > 0);
  await p2.reload();
  const live3 = await p2.waitFor(`${text('#live-total')} === '${LIVE.total}' && ${text('#live-total')}`, 'data after a reload').catch((e) => e.message);
  check('Token: kept for the tab (no prompt after a reload)', live3 === String(LIVE.total) && (await p2.eval(`document.querySelector('#login')?.hidden === true`)));
  const logs = fs.readFileSync(locked.log, 'utf8');
  check('Token: in no log line', !logs.includes(read) && !logs.includes(ingest));
  check('no errors in the locked page', p2.errors.filter((e) => !/401/.test(e)).length === 0, JSON.stringify(p2.errors));
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL - ${e.stack || e}`);
  for (const f of fs.readdirSync(tmp).filter((f) => f.endsWith('.log'))) {
    console.log(`---- ${f} (last 30 lines)`);
    console.log(fs.readFileSync(path.join(tmp, f), 'utf8').split('\n').slice(-30).join('\n'));
  }
}
clearTimeout(watchdog);
await cleanup();
console.log(`screenshots: ${artifacts}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
