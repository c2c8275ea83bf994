// A small client of the Chrome DevTools Protocol over --remote-debugging-pipe
// (file descriptors 3 and 4; messages are JSON, each ended by a NUL byte):
// starts Debian's chromium headless with a fresh profile and drives one page.
// No npm package and no browser download: the test uses /usr/bin/chromium.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class Browser {
  // Starts chromium. `log` receives its stderr.
  static async launch({ executable = 'chromium', logFile }) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sessionsink-chromium-'));
    const args = [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-extensions', '--disable-default-apps', '--disable-dev-shm-usage',
      '--no-default-browser-check', '--hide-scrollbars', '--mute-audio',
      `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank',
    ];
    const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
    // Its own process group, so that close() ends its helper processes too.
    const proc = spawn(executable, args, { stdio: ['ignore', out, out, 'pipe', 'pipe'], detached: true });
    const b = new Browser(proc, profile);
    await b.send('Target.setDiscoverTargets', { discover: true });
    return b;
  }

  constructor(proc, profile) {
    this.proc = proc;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.exited = false;
    let buf = Buffer.alloc(0);
    proc.stdio[4].on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (let i; (i = buf.indexOf(0)) >= 0; buf = buf.subarray(i + 1)) {
        this.dispatch(JSON.parse(buf.subarray(0, i).toString('utf8')));
      }
    });
    proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const { reject } of this.pending.values()) reject(new Error(`chromium exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  dispatch(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
    } else {
      for (const l of this.listeners) l(msg);
    }
  }

  send(method, params = {}, sessionId = undefined) {
    if (this.exited) return Promise.reject(new Error('chromium is not running'));
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.proc.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }

  on(fn) { this.listeners.push(fn); }

  // A new tab of the given size, attached (flat session).
  async newPage(width = 1400, height = 1000) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    await this.send('Target.activateTarget', { targetId });
    const page = new Page(this, sessionId);
    page.targetId = targetId;
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Network.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  async close() {
    const exited = new Promise((r) => (this.exited ? r() : this.proc.once('exit', r)));
    if (!this.exited) {
      try { await Promise.race([this.send('Browser.close'), new Promise((r) => setTimeout(r, 3000))]); } catch (e) { /* gone */ }
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    try { process.kill(-this.proc.pid, 'SIGKILL'); } catch (e) { /* the group is gone */ }
    await exited;
    try {
      fs.rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      console.log(`note: could not remove ${this.profile}: ${e.message}`);
    }
  }
}

export class Page {
  constructor(browser, sessionId) {
    this.browser = browser;
    this.sessionId = sessionId;
    this.requests = [];  // every URL the page asked for
    this.errors = [];    // uncaught exceptions and console errors
    browser.on((msg) => {
      if (msg.sessionId !== sessionId) return;
      if (msg.method === 'Network.requestWillBeSent') this.requests.push({ url: msg.params.request.url, headers: msg.params.request.headers });
      if (msg.method === 'Runtime.exceptionThrown') this.errors.push(msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text);
      if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') {
        this.errors.push(msg.params.args.map((a) => a.value ?? a.description).join(' '));
      }
    });
  }

  send(method, params) { return this.browser.send(method, params, this.sessionId); }

  close() { return this.browser.send('Target.closeTarget', { targetId: this.targetId }); }

  // Navigates and waits for the document to have loaded.
  async goto(url) {
    await this.send('Page.navigate', { url });
    await this.waitFor(`location.href === ${JSON.stringify(url)} && document.readyState === 'complete'`, `${url} to load`);
  }

  // Reloads and waits for the new document to have loaded: the old one is
  // marked first, so a check right after cannot see the page being replaced.
  async reload() {
    await this.eval('window.__replacedByReload = true');
    await this.send('Page.reload', {});
    await this.waitFor(`!window.__replacedByReload && document.readyState === 'complete'`, 'the reload');
  }

  // Evaluates `expr` in the page (promises awaited) and returns its value.
  async eval(expr) {
    const r = await this.send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
    return r.result.value;
  }

  // Polls `expr` until it is truthy; returns its value. Throws after `ms`.
  async waitFor(expr, what, ms = 20000) {
    const end = Date.now() + ms;
    let last;
    for (;;) {
      let value = null;
      try { value = await this.eval(expr); } catch (e) { last = e.message; }  // e.g. still loading
      if (value) return value;
      if (value !== null) last = value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // Types into the focused element as a keyboard would.
  async type(selector, value) {
    await this.eval(`document.querySelector(${JSON.stringify(selector)}).focus()`);
    await this.send('Input.insertText', { text: value });
  }

  // Clicks the middle of an element with the mouse.
  async click(selector) {
    const box = await this.eval(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
      e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`);
    for (const type of ['mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
    }
  }

  // A PNG of the whole page (beyond the viewport) into `file`.
  async screenshot(file) {
    // Sticky elements would be drawn where the page is scrolled to: pin them
    // in place for the capture, then put them back.
    await this.eval(`(() => { window.scrollTo({ top: 0, behavior: 'instant' });
      for (const e of document.querySelectorAll('*')) if (getComputedStyle(e).position === 'sticky') {
        e.dataset.cdpSticky = '1'; e.style.position = 'static'; } })()`);
    const { cssContentSize } = await this.send('Page.getLayoutMetrics');
    const { data } = await this.send('Page.captureScreenshot', {
      format: 'png', captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(cssContentSize.width), height: Math.ceil(cssContentSize.height), scale: 1 },
    });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
    await this.eval(`for (const e of document.querySelectorAll('[data-cdp-sticky]')) { e.style.position = ''; delete e.dataset.cdpSticky; }`);
  }
}
