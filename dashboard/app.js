// The sessionsink dashboard: one page over GET /reports/* and GET /api/* of
// the sink that serves it. No framework; uPlot draws the charts. Every value
// from the server is put into the page as text (textContent), never as HTML.
//
// The token, when the sink asks for one (401), is asked once, kept in
// sessionStorage (this tab only) and sent as Authorization: Bearer; it is
// never put in a URL.
'use strict';

(() => {
  const TOKEN_KEY = 'sessionsink.token';
  const NOW_EVERY_MS = 5000;     // the Now panel
  const PANELS_EVERY_MS = 30000; // everything else
  const COLORS = { all: '#2563eb', media: '#c2410c', events: '#2563eb', ok: '#15803d', client: '#b45309', refused: '#dc2626' };

  const $ = (sel) => document.querySelector(sel);
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let locked = false;         // waiting for a token: nothing is fetched
  const charts = {};          // uPlot instances by container id

  // ---- formatting -------------------------------------------------------

  const nf = new Intl.NumberFormat();
  const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const int = (v) => (v === null || v === undefined ? '–' : nf.format(v));
  const pct = (v) => (v === null || v === undefined ? '–' : `${(+v).toFixed(1)} %`);
  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    const s = ms / 1000;
    if (s < 1) return `${Math.round(ms)} ms`;
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const u = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
  }
  const localFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  // A <time>: the browser's zone as text, UTC on hover.
  function time(ms) {
    if (ms === null || ms === undefined) return text('–');
    const d = new Date(ms);
    return el('time', { datetime: d.toISOString(), title: `${d.toISOString().replace('T', ' ').replace('Z', ' UTC')}` }, localFmt.format(d));
  }

  // ---- DOM helpers ------------------------------------------------------

  function text(s) { return document.createTextNode(s === null || s === undefined ? '' : String(s)); }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : text(k));
    return e;
  }
  function td(v, cls) { return el('td', { class: cls }, v instanceof Node ? v : text(v)); }
  function fill(tbody, rows, cols) {
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(el('tr', {}, el('td', { class: 'empty', colspan: cols }, 'nothing in this window')));
  }
  function stateBadge(s) { return el('span', { class: `state ${s}` }, s); }

  // ---- fetching ---------------------------------------------------------

  class AuthError extends Error {}

  async function get(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== '') q.set(k, v);
    }
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const res = await fetch(q.toString() ? `${path}?${q}` : path, { headers, cache: 'no-store' });
    if (res.status === 401) throw new AuthError('token required');
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error(`${path}: ${(body && body.error) || res.status}`);
    return body;
  }

  function showLogin(message) {
    locked = true;
    $('#main').hidden = true;
    $('#login').hidden = false;
    $('#forget').hidden = !token;
    const err = $('#login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('#status').textContent = 'token required';
    $('#token').focus();
  }

  // Runs one panel's refresh; a 401 anywhere locks the page.
  async function guarded(name, fn) {
    try {
      await fn();
      return true;
    } catch (e) {
      if (e instanceof AuthError) {
        showLogin(token ? 'That token was refused.' : '');
      } else {
        console.error(name, e);
        $('#status').textContent = `${name}: ${e.message}`;
      }
      return false;
    }
  }

  // ---- window and platform ----------------------------------------------

  function toLocalInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }
  function windowParams() {
    const w = $('#window').value;
    let from, to;
    if (w === 'custom') {
      from = new Date($('#from').value).getTime();
      to = new Date($('#to').value).getTime();
      if (!(from < to)) { to = Date.now(); from = to - 86400000; }
    } else {
      to = Date.now();
      from = to - Number(w);
    }
    return { from: Math.floor(from), to: Math.floor(to), platform: $('#platform').value };
  }

  // ---- charts -----------------------------------------------------------

  function chart(id, opts, data) {
    const box = document.getElementById(id);
    if (charts[id]) charts[id].destroy();
    const width = Math.max(280, box.clientWidth || box.parentElement.clientWidth - 10);
    charts[id] = new uPlot(Object.assign({ width, height: 200, legend: { show: true } }, opts), data, box);
    box.dataset.points = String(data.length > 1 ? data[1].filter((v) => v !== null).length : 0);
    return charts[id];
  }
  window.addEventListener('resize', () => {
    for (const [id, u] of Object.entries(charts)) {
      const box = document.getElementById(id);
      u.setSize({ width: Math.max(280, box.clientWidth), height: u.height });
    }
  });

  // ---- Now ----------------------------------------------------------------

  async function refreshNow() {
    const { platform } = windowParams();
    const now = await get('/api/now', { platform });
    // Pointed at ClickHouse (serve --reports-from): the fleet, except what stays this sink's own.
    const fleet = $('#fleet');
    fleet.hidden = !now.fleet;
    if (now.fleet) {
      fleet.textContent = `Fleet view: the panels read ClickHouse (database ${now.fleet.database}). ` +
        `This sink only: ${now.fleet.local_only.map((p) => p.panel).join(', ')}.`;
    }
    const by = new Map();
    const totals = { establishing: 0, running: 0, stalling: 0 };
    for (const r of now.live) {
      const key = `${r.kind}\u0000${r.platform}`;
      if (!by.has(key)) by.set(key, { kind: r.kind, platform: r.platform, establishing: 0, running: 0, stalling: 0 });
      by.get(key)[r.state] = r.sessions;
      totals[r.state] = (totals[r.state] || 0) + r.sessions;
    }
    const total = totals.establishing + totals.running + totals.stalling;
    $('#live-total').textContent = int(total);
    $('#live-playing').textContent = int(totals.running);
    $('#live-stalling').textContent = int(totals.stalling);
    $('#live-establishing').textContent = int(totals.establishing);
    const rows = [...by.values()].sort((a, b) => (b.establishing + b.running + b.stalling) - (a.establishing + a.running + a.stalling));
    fill($('#live-table tbody'), rows.map((r) => el('tr', {},
      td(r.kind), td(r.platform), td(int(r.establishing), 'num'), td(int(r.running), 'num'),
      td(int(r.stalling), 'num'), td(int(r.establishing + r.running + r.stalling), 'num'))), 6);

    const pts = now.traffic.points;
    const lastMinute = pts.filter((p) => p.t >= now.now_ms - 60000);
    const ev = lastMinute.reduce((a, p) => a + p.events, 0);
    const ms = lastMinute.reduce((a, p) => a + p.ms, 0);
    // Over a few seconds at least, so that the first instants after a start do not spike.
    $('#rate').textContent = int(Math.round(ev / (Math.max(ms, now.traffic.step_ms) / 1000)));
    const sum = (k) => pts.reduce((a, p) => a + p[k], 0);
    const spanS = Math.round(pts.reduce((a, p) => a + p.ms, 0) / 1000);
    $('#answers').textContent = `POST /events answers, last ${spanS < 120 ? `${spanS} s` : `${Math.round(spanS / 60)} min`}: ` +
      `2xx ${int(sum('2xx'))} · 4xx ${int(sum('4xx'))} · 503 ${int(sum('503'))}` + (sum('other') ? ` · other ${int(sum('other'))}` : '') +
      ` — ${int(now.totals.events_accepted)} events accepted, ${int(now.totals.events_duplicate)} duplicates since start`;
    const xs = pts.map((p) => p.t + p.ms);
    const perS = (k) => pts.map((p) => (p.ms > 0 ? +(p[k] / (p.ms / 1000)).toFixed(2) : 0));
    chart('ingest-chart', {
      height: 170, ms: 1,
      series: [{}, { label: 'events/s', stroke: COLORS.events, width: 2, fill: 'rgba(37,99,235,0.10)' },
        { label: '2xx/s', stroke: COLORS.ok, scale: 'req' }, { label: '4xx/s', stroke: COLORS.client, scale: 'req' },
        { label: '503/s', stroke: COLORS.refused, scale: 'req' }],
      // The whole ten minutes, one label per minute or more: a sink that
      // started two minutes ago shows two minutes of data at the right.
      axes: [{ space: 60, incrs: [60000, 120000, 300000], values: (u, splits) => splits.map(hhmm) },
        { label: 'events/s', size: 60 }, { side: 1, scale: 'req', label: 'requests/s', grid: { show: false } }],
      scales: { x: { range: () => [now.now_ms - 600000, now.now_ms] },
        req: { range: (u, min, max) => [0, Math.max(1, max)] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    }, [xs, perS('events'), perS('2xx'), perS('4xx'), perS('503')]);

    if (now.kafka) {
      $('#kafka-backlog').textContent = int(now.kafka.backlog_events);
      $('#kafka-age').textContent = now.kafka.backlog_events ? `oldest undelivered ${duration(now.kafka.oldest_undelivered_age_ms)}` : 'caught up';
      if (now.kafka.last_error) $('#kafka-age').textContent += ` · ${now.kafka.last_error}`;
    } else {
      $('#kafka-backlog').textContent = 'off';
      $('#kafka-age').textContent = 'no --kafka-brokers';
    }
    $('#flush-lag').textContent = duration(now.flush_lag.seconds * 1000);
    $('#flush-note').textContent = now.flush_lag.events > 0 ? `${int(now.flush_lag.events)} events not yet in rows` : 'rows current';
    $('#pending').textContent = int(now.totals.pending_events);
  }

  // ---- concurrency ------------------------------------------------------

  async function refreshConcurrency() {
    const w = windowParams();
    const media = $('#conc-media').value.trim();
    const total = await get('/api/concurrency', w);
    const one = media ? await get('/api/concurrency', Object.assign({ media, bucket: `${total.bucket_ms}ms` }, w)) : null;
    $('#conc-bucket').textContent = `bucket ${duration(total.bucket_ms)}`;
    const series = [{}, { label: 'all media', stroke: COLORS.all, width: 2, fill: 'rgba(37,99,235,0.08)' }];
    const data = [total.t, total.peak];
    if (one) {
      const at = new Map(one.t.map((t, i) => [t, one.peak[i]]));
      series.push({ label: media, stroke: COLORS.media, width: 2 });
      data.push(total.t.map((t) => (at.has(t) ? at.get(t) : 0)));
    }
    chart('conc-chart', { height: 230, ms: 1, series, axes: [{}, { label: 'plays', size: 60 }], scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } } }, data);
  }

  // ---- top media --------------------------------------------------------

  const mediaSort = { key: 'attempts', asc: false };
  let mediaRows = [];
  function renderMedia() {
    const k = mediaSort.key;
    const rows = [...mediaRows].sort((a, b) => {
      const x = a[k], y = b[k];
      const c = x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
      return mediaSort.asc ? c : -c;
    }).slice(0, 25);
    fill($('#media-table tbody'), rows.map((r) => el('tr', {},
      td(r.media === null ? el('span', { class: 'muted' }, '(none)') : el('a', { onclick: () => focusMedia(r.media) }, r.media)),
      td(int(r.attempts), 'num'), td(int(r.plays), 'num'), td(int(r.users), 'num'),
      td(r.watch_hours === null ? '–' : (+r.watch_hours).toFixed(1), 'num'),
      td(duration(r.startup_p50_ms), 'num'), td(duration(r.startup_p95_ms), 'num'),
      td(r.stall_ratio === null ? '–' : pct(100 * r.stall_ratio), 'num'), td(int(r.peak_concurrency), 'num'))), 9);
    for (const th of document.querySelectorAll('#media-table th[data-k]')) {
      th.classList.toggle('sorted', th.dataset.k === k);
      th.classList.toggle('asc', th.dataset.k === k && mediaSort.asc);
    }
  }
  async function refreshMedia() {
    mediaRows = await get('/reports/media', windowParams());
    const names = mediaRows.filter((r) => r.media !== null).sort((a, b) => b.attempts - a.attempts).slice(0, 200);
    $('#media-names').replaceChildren(...names.map((r) => el('option', { value: r.media })));
    renderMedia();
  }
  function focusMedia(name) {
    $('#conc-media').value = name;
    $('#filters').elements.media.value = name;
    explorer.offset = 0;
    guarded('concurrency', refreshConcurrency);
    guarded('sessions', refreshSessions);
    $('#concurrency').scrollIntoView({ behavior: 'smooth' });
  }

  // ---- funnel, endings, durations, stalls --------------------------------

  async function refreshFunnel() {
    const rows = await get('/reports/startup', windowParams());
    const outcomes = rows.filter((r) => !r.metric.endsWith('_ms'));
    const max = Math.max(1, ...outcomes.map((r) => r.value || 0));
    $('#funnel-bars').replaceChildren(...outcomes.map((r) => el('div', { class: 'row', 'data-metric': r.metric },
      el('span', {}, r.metric),
      el('div', { class: 'track' }, el('div', { class: `fill ${r.metric}`, style: `width:${(100 * (r.value || 0)) / max}%` })),
      el('span', { class: 'n' }, `${int(r.value)} (${pct(r.pct)})`))));
    const v = (m) => { const r = rows.find((x) => x.metric === m); return r ? r.value : null; };
    let t = `startup p50 ${duration(v('startup_p50_ms'))} · p95 ${duration(v('startup_p95_ms'))} · p99 ${duration(v('startup_p99_ms'))}`;
    if (v('queued_p50_ms') !== null) t += ` — waited for capacity p50 ${duration(v('queued_p50_ms'))} · p95 ${duration(v('queued_p95_ms'))}`;
    $('#startup-times').textContent = t;
  }

  async function refreshEndings() {
    const rows = await get('/reports/endings', windowParams());
    const by = new Map();
    for (const r of rows) {
      const key = `${r.platform}\u0000${r.end_class}`;
      if (!by.has(key)) by.set(key, { platform: r.platform, end_class: r.end_class, sessions: 0, pct: 0, reasons: [] });
      const g = by.get(key);
      g.sessions += r.sessions;
      g.pct += r.pct || 0;
      if (r.raw_reason !== null) g.reasons.push(`${r.raw_reason} (${int(r.sessions)})`);
    }
    const groups = [...by.values()].sort((a, b) => b.sessions - a.sessions).slice(0, 20);
    fill($('#endings-table tbody'), groups.map((g) => el('tr', {},
      td(g.platform), td(g.end_class === null ? '(open)' : g.end_class), td(int(g.sessions), 'num'), td(pct(g.pct), 'num'),
      td(g.reasons.slice(0, 3).join(', ') + (g.reasons.length > 3 ? ', …' : ''), 'wrap'))), 5);
  }

  async function refreshDurations() {
    const rows = await get('/reports/durations', windowParams());
    const labels = rows.map((r) => r.label);
    chart('dur-chart', {
      height: 210,
      series: [{}, { label: 'finished plays', stroke: COLORS.all, fill: 'rgba(37,99,235,0.55)', paths: uPlot.paths.bars({ size: [0.75, 60] }), points: { show: false } }],
      scales: { x: { time: false, range: [0.4, rows.length + 0.6] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{ splits: () => rows.map((r) => r.bucket), values: (u, splits) => splits.map((i) => labels[i - 1] || ''), size: 52, gap: 2, rotate: -40, font: '11px system-ui' }, { size: 60 }],
      legend: { show: false },
    }, [rows.map((r) => r.bucket), rows.map((r) => r.plays)]);
  }

  async function refreshStalls() {
    const rows = await get('/api/stalls', Object.assign({ limit: 15 }, windowParams()));
    fill($('#stalls-table tbody'), rows.map((r) => el('tr', {},
      td(r.name === null ? el('span', { class: 'muted' }, '(none)') : el('a', { onclick: () => focusMedia(r.name) }, r.name)),
      td(int(r.plays), 'num'), td(int(r.stalls), 'num'), td(duration(r.stalled_ms), 'num'),
      td(r.stall_ratio === null ? '–' : pct(100 * r.stall_ratio), 'num'), td(pct(r.plays_with_stall_pct), 'num'))), 6);
  }

  // ---- sessions explorer --------------------------------------------------

  const explorer = { sort: 'opened_at', order: 'desc', offset: 0, limit: 25, selected: null };
  function explorerFilters() {
    const f = {};
    for (const e of $('#filters').elements) if (e.name && e.value.trim()) f[e.name] = e.value.trim();
    return f;
  }
  async function refreshSessions() {
    const p = Object.assign({}, windowParams(), explorerFilters(), { sort: explorer.sort, order: explorer.order, offset: explorer.offset, limit: explorer.limit });
    const page = await get('/api/sessions', p);
    fill($('#sessions-table tbody'), page.sessions.map((s) => el('tr', {
      class: `click${s.id === explorer.selected ? ' selected' : ''}`, 'data-id': s.id, onclick: () => openTimeline(s.id),
    }, td(time(s.opened_at)), td(s.kind), td(stateBadge(s.state)), td(s.server), td(s.media), td(s.proto), td(s.user_id),
    td(s.ip), td(s.platform), td(duration(s.watch_ms), 'num'), td(int(s.stall_count), 'num'), td(bytes(s.bytes), 'num'),
    td(s.end_class || s.close_reason || ''))), 13);
    $('#page').textContent = page.sessions.length ? `${explorer.offset + 1}–${explorer.offset + page.sessions.length}` : 'no sessions';
    $('#prev').disabled = explorer.offset === 0;
    $('#next').disabled = !page.more;
    for (const th of document.querySelectorAll('#sessions-table th[data-k]')) {
      th.classList.toggle('sorted', th.dataset.k === explorer.sort);
      th.classList.toggle('asc', th.dataset.k === explorer.sort && explorer.order === 'asc');
    }
  }

  // ---- a session's timeline -----------------------------------------------

  function kv(box, pairs) {
    box.replaceChildren(...pairs.map(([k, v]) => el('div', {}, el('span', {}, k), v instanceof Node ? v : text(v === null || v === undefined ? '–' : v))));
  }
  function stallRows(stalls, end) {
    return stalls.map((s) => el('tr', {}, td(time(s.start_at)), td(s.end_at === null ? 'still stalling' : time(s.end_at)),
      td(duration((s.end_at === null ? end : s.end_at) - s.start_at), 'num')));
  }
  // The states over time (from the events), the session's stalls and its source's stalls, on one axis.
  function drawStrip(svg, t) {
    const ns = 'http://www.w3.org/2000/svg';
    const s = t.session;
    const times = t.events.map((e) => e.utc_ms).filter((x) => x !== null);
    const t0 = Math.min(...[s.opened_at, s.first_event_at, ...times].filter((x) => x !== null && x !== undefined));
    let t1 = Math.max(...[s.closed_at, s.last_event_at, ...times].filter((x) => x !== null && x !== undefined));
    if (!(t1 > t0)) t1 = t0 + 1000;
    const W = Math.max(300, svg.clientWidth || 900), L = 110, R = 10;
    const x = (v) => L + ((Math.min(Math.max(v, t0), t1) - t0) / (t1 - t0)) * (W - L - R);
    const shape = (tag, a) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(a)) e.setAttribute(k, v); return e; };
    const label = (y, s2) => { const e = shape('text', { x: 4, y }); e.textContent = s2; return e; };
    const color = { establishing: '#7c3aed', running: '#15803d', stalling: '#c2410c', finished: '#9ca3af' };
    const kids = [label(14, 'viewer state'), label(34, 'viewer stalls'), label(52, 'source stalls')];
    const timed = t.events.filter((e) => e.utc_ms !== null);
    for (let i = 0; i < timed.length; i++) {
      const a = timed[i].utc_ms, b = i + 1 < timed.length ? timed[i + 1].utc_ms : t1;
      if (timed[i].state === 'finished' && b <= a) continue;
      const r = shape('rect', { x: x(a), y: 4, width: Math.max(1, x(b) - x(a)), height: 14, fill: color[timed[i].state] || '#9ca3af', 'data-state': timed[i].state });
      const tip = document.createElementNS(ns, 'title');
      tip.textContent = `${timed[i].event} → ${timed[i].state} at ${new Date(a).toISOString()}`;
      r.append(tip);
      kids.push(r);
    }
    const bar = (y, iv, fillc) => iv.forEach((st) => kids.push(shape('rect', { x: x(st.start_at), y, width: Math.max(2, x(st.end_at === null ? t1 : st.end_at) - x(st.start_at)), height: 10, fill: fillc })));
    bar(26, t.stalls, '#c2410c');
    if (t.source) bar(44, t.source.stalls, '#dc2626');
    kids.push(shape('line', { x1: L, x2: W - R, y1: 57, y2: 57, stroke: '#d1d5db' }));
    const tick = (v, anchor) => {
      const e = shape('text', { x: x(v), y: 70, 'text-anchor': anchor });
      e.textContent = localFmt.format(new Date(v));
      const tip = document.createElementNS(ns, 'title');
      tip.textContent = new Date(v).toISOString();
      e.append(tip);
      return e;
    };
    kids.push(tick(t0, 'start'), tick(t1, 'end'));
    svg.setAttribute('viewBox', `0 0 ${W} 74`);
    svg.replaceChildren(...kids);
  }
  async function openTimeline(id) {
    explorer.selected = id;
    for (const tr of document.querySelectorAll('#sessions-table tbody tr')) tr.classList.toggle('selected', tr.dataset.id === id);
    const t = await get('/api/session', { id });
    const s = t.session;
    $('#timeline').hidden = false;
    $('#tl-id').textContent = `${s.kind} ${s.id}`;
    if (t.data_source === 'local') $('#tl-id').textContent += ' (from this sink: the timeline is not on ClickHouse)';
    kv($('#tl-summary'), [
      ['state', stateBadge(s.state)], ['platform', s.platform], ['server', s.server], ['media', s.media], ['user', s.user_id],
      ['IP', s.ip], ['protocol', s.proto], ['user agent', s.user_agent], ['opened', time(s.opened_at)], ['started', time(s.started_at)],
      ['closed', time(s.closed_at)], ['last event', time(s.last_event_at)], ['bytes', bytes(s.bytes)],
      ['stalls', `${int(s.stall_count)} (${duration(s.stalled_ms)})`], ['end class', s.end_class], ['close reason', s.close_reason],
      ['raw reason', s.raw_reason], ['events', int(s.event_count)],
    ]);
    const end = s.closed_at || s.last_event_at || Date.now();
    fill($('#tl-events tbody'), t.events.flatMap((e) => {
      const row = el('tr', { class: 'click', 'data-seq': e.seq }, td(e.utc_ms === null ? el('span', { class: 'muted' }, 'no time') : time(e.utc_ms)),
        td(e.event), td(stateBadge(e.state)), td(e.server), td(e.seq, 'num'));
      const body = el('tr', { hidden: true }, el('td', { colspan: 5 }, el('pre', { class: 'body' }, pretty(e.body))));
      row.addEventListener('click', () => { body.hidden = !body.hidden; });
      return [row, body];
    }), 5);
    $('#tl-truncated').hidden = t.events_complete;
    fill($('#tl-stalls tbody'), stallRows(t.stalls, end), 3);
    if (t.source) {
      const src = t.source.session;
      $('#tl-source-id').textContent = `${src.kind} ${src.id}`;
      kv($('#tl-source'), [['state', stateBadge(src.state)], ['server', src.server], ['media', src.media], ['opened', time(src.opened_at)],
        ['closed', time(src.closed_at)], ['stalls', `${int(src.stall_count)} (${duration(src.stalled_ms)})`], ['close reason', src.close_reason]]);
      fill($('#tl-source-stalls tbody'), stallRows(t.source.stalls, src.closed_at || src.last_event_at || Date.now()), 3);
    } else {
      $('#tl-source-id').textContent = s.source_id ? `${s.source_id} (not stored)` : '(none)';
      $('#tl-source').replaceChildren();
      fill($('#tl-source-stalls tbody'), [], 3);
    }
    drawStrip($('#tl-strip'), t);
    $('#timeline').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
  function pretty(body) {
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
  }

  // ---- per user -----------------------------------------------------------

  let userShown = '';
  async function showUser(id) {
    userShown = id;
    const u = await get('/api/user', Object.assign({ id }, windowParams()));
    $('#user-body').hidden = false;
    const s = u.summary || {};
    const tile = (label, value) => el('div', { class: 'tile' }, el('span', { class: 'label' }, label), el('span', { class: 'value' }, value));
    $('#user-tiles').replaceChildren(tile('user', u.user), tile('sessions', int(s.sessions || 0)), tile('plays', int(s.plays || 0)),
      tile('watch time', duration(s.watch_ms || 0)), tile('bytes', bytes(s.bytes || 0)), tile('media', int(s.media || 0)),
      tile('IPs', int(s.ips || 0)), tile('stalls', int(s.stalls || 0)));
    $('#user-sharing').textContent = u.sharing
      ? `Sharing: ${int(u.sharing.overlapping_pairs)} pairs of plays overlapped from different networks (${duration(1000 * u.sharing.overlap_s)} in all); ` +
        `at most ${int(u.sharing.max_concurrent)} plays at once from ${int(u.sharing.networks)} networks.`
      : 'Sharing: no plays overlapped from different networks in this window.';
    fill($('#user-nets tbody'), u.networks.map((n) => el('tr', {}, td(n.network === null ? '(none)' : n.network), td(int(n.sessions), 'num'),
      td(int(n.plays), 'num'), td(duration(n.watch_ms), 'num'), td(n.ips.slice(0, 4).join(', ') + (n.ips.length > 4 ? ', …' : ''), 'wrap'), td(time(n.last_at)))), 6);
    fill($('#user-agents tbody'), u.user_agents.map((a) => el('tr', {}, td(a.user_agent === null ? '(none)' : a.user_agent, 'wrap'), td(int(a.sessions), 'num'))), 2);
  }
  let searchTimer = null;
  $('#user-q').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => guarded('users', async () => {
      const q = $('#user-q').value.trim();
      const users = await get('/api/users', Object.assign({ q, limit: 20 }, windowParams()));
      $('#user-names').replaceChildren(...users.map((u) => el('option', { value: u.user_id }, `${u.user_id} — ${u.sessions} sessions`)));
    }), 250);
  });
  $('#user-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = $('#user-q').value.trim();
    if (id) guarded('user', () => showUser(id));
  });
  $('#user-sessions').addEventListener('click', () => {
    const f = $('#filters').elements;
    for (const e of f) if (e.name) e.value = '';
    f.user.value = userShown;
    explorer.offset = 0;
    guarded('sessions', refreshSessions);
    $('#explorer').scrollIntoView({ behavior: 'smooth' });
  });

  // ---- wiring -------------------------------------------------------------

  async function refreshPanels() {
    await Promise.all([
      guarded('concurrency', refreshConcurrency), guarded('media', refreshMedia), guarded('funnel', refreshFunnel),
      guarded('endings', refreshEndings), guarded('durations', refreshDurations), guarded('stalls', refreshStalls),
      guarded('sessions', refreshSessions),
    ]);
    if (userShown) await guarded('user', () => showUser(userShown));
  }
  // On the first load: when nothing happened in the default window but the
  // sink has sessions (an old file, a batch of old events), open the window
  // on the day of the latest ones instead of an empty page.
  let firstLoad = true;
  async function findData() {
    firstLoad = false;
    if ($('#window').value === 'custom') return;
    const w = windowParams();
    const latest = await get('/api/sessions', { platform: w.platform, sort: 'last_event_at', order: 'desc', limit: 1 });
    const s = latest.sessions[0];
    const t = s && s.last_event_at;
    if (!t || t >= w.from) return;  // something happened in the window (or nothing at all)
    $('#window').value = 'custom';
    $('#custom-window').hidden = false;
    $('#from').value = toLocalInput(t - 23 * 3600000);
    $('#to').value = toLocalInput(t + 3600000);
  }
  async function refreshAll() {
    if (locked) return;
    const ok = await guarded('now', refreshNow);
    if (!ok || locked) return;
    $('#main').hidden = false;
    $('#forget').hidden = !token;
    if (firstLoad) await guarded('sessions', findData);
    await refreshPanels();
    if (!locked) stamp();
  }
  function stamp() {
    const d = new Date();
    $('#status').textContent = `updated ${d.toLocaleTimeString()}`;
    $('#status').title = d.toISOString();
  }

  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    token = $('#token').value;
    $('#token').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    locked = false;
    $('#login').hidden = true;
    await refreshAll();
  });
  $('#forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    showLogin('');
  });
  $('#window').addEventListener('change', () => {
    const custom = $('#window').value === 'custom';
    $('#custom-window').hidden = !custom;
    if (custom && !$('#from').value) {
      $('#to').value = toLocalInput(Date.now());
      $('#from').value = toLocalInput(Date.now() - 86400000);
    }
    explorer.offset = 0;
    refreshAll();
  });
  for (const id of ['#from', '#to', '#platform']) $(id).addEventListener('change', () => { explorer.offset = 0; refreshAll(); });
  $('#conc-media').addEventListener('change', () => guarded('concurrency', refreshConcurrency));
  $('#filters').addEventListener('submit', (ev) => { ev.preventDefault(); explorer.offset = 0; guarded('sessions', refreshSessions); });
  $('#clear-filters').addEventListener('click', () => {
    for (const e of $('#filters').elements) if (e.name) e.value = '';
    explorer.offset = 0;
    guarded('sessions', refreshSessions);
  });
  $('#prev').addEventListener('click', () => { explorer.offset = Math.max(0, explorer.offset - explorer.limit); guarded('sessions', refreshSessions); });
  $('#next').addEventListener('click', () => { explorer.offset += explorer.limit; guarded('sessions', refreshSessions); });
  $('#tl-close').addEventListener('click', () => { $('#timeline').hidden = true; explorer.selected = null; });
  for (const th of document.querySelectorAll('#sessions-table th[data-k]')) {
    th.addEventListener('click', () => {
      if (explorer.sort === th.dataset.k) explorer.order = explorer.order === 'desc' ? 'asc' : 'desc';
      else { explorer.sort = th.dataset.k; explorer.order = 'desc'; }
      explorer.offset = 0;
      guarded('sessions', refreshSessions);
    });
  }
  for (const th of document.querySelectorAll('#media-table th[data-k]')) {
    th.addEventListener('click', () => {
      if (mediaSort.key === th.dataset.k) mediaSort.asc = !mediaSort.asc;
      else { mediaSort.key = th.dataset.k; mediaSort.asc = th.dataset.k === 'media'; }
      renderMedia();
    });
  }

  // Auto-refresh while the tab is visible: Now often, the rest less often.
  let lastPanels = 0;
  setInterval(async () => {
    if (locked || !$('#auto').checked || document.visibilityState !== 'visible') return;
    if (!(await guarded('now', refreshNow))) return;
    if (Date.now() - lastPanels >= PANELS_EVERY_MS) {
      lastPanels = Date.now();
      await refreshPanels();
    }
    if (!locked) stamp();
  }, NOW_EVERY_MS);

  lastPanels = Date.now();
  refreshAll();
})();
