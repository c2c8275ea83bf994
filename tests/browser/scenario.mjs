// The dashboard test's scenario: half an hour of one edge's traffic, ending
// now, as Flussonic posts it. Two ingest sources (hockey1, news24), plays by
// alice, bob, carol, dave and erin; alice watches from two networks at once;
// bob's second play is stalling; the hockey1 source stalled for 40 s, and
// alice's first play with it. Events are posted out of order (as resends
// arrive), so the timeline's order comes from the sink.
//
//   node scenario.mjs URL [TOKEN]   posts it (for trying the dashboard by hand)

export const LIVE = { total: 6, running: 5, stalling: 1, establishing: 0 };
export const MEDIA = ['hockey1', 'news24'];
// alice's first play, in time order, with the state each event leads to.
export const ALICE_PLAY = 'play-alice-1';
export const ALICE_TIMELINE = [
  ['play_opened', 'establishing'], ['play_authorized', 'establishing'], ['play_started', 'running'],
  ['play_stalled', 'stalling'], ['play_recovered', 'running'], ['play_updated', 'running'],
  ['play_closed', 'finished'],
];

export function scenario(now = Date.now()) {
  const T = now - 30 * 60000;
  const min = (m) => T + Math.round(m * 60000);
  const ev = [];
  const add = (event, id, at, fields) => ev.push(Object.assign({ event, id, utc_ms: at, server: 'edge1' }, fields));
  const src = (id, media) => ({ type: 'ingest', media, url: `rtsp://camera.local/${media}` });

  add('source_opened', 'src-hockey', min(0), src('src-hockey', 'hockey1'));
  add('source_started', 'src-hockey', min(0.02), src('src-hockey', 'hockey1'));
  add('source_stalled', 'src-hockey', min(15), src('src-hockey', 'hockey1'));
  add('source_recovered', 'src-hockey', min(15) + 40000, src('src-hockey', 'hockey1'));
  add('source_opened', 'src-news', min(0), src('src-news', 'news24'));
  add('source_started', 'src-news', min(0.03), src('src-news', 'news24'));

  const play = (id, user, media, ip, source_id, ua, server = 'edge1') => ({
    type: 'play', user_id: user, media, ip, proto: 'hls', source_id, user_agent: ua, server,
  });
  const chrome = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0';
  const tv = 'SmartTV/7.1 (Tizen)';
  const a1 = play('play-alice-1', 'alice', 'hockey1', '10.0.0.5', 'src-hockey', chrome);
  add('play_closed', ALICE_PLAY, min(25), Object.assign({ reason: 'normal', bytes: 91000000 }, a1));
  add('play_opened', ALICE_PLAY, min(1), a1);
  add('play_updated', ALICE_PLAY, min(20), Object.assign({ bytes: 72000000 }, a1));
  add('play_authorized', ALICE_PLAY, min(1) + 300, a1);
  add('play_stalled', ALICE_PLAY, min(15) + 5000, a1);
  add('play_started', ALICE_PLAY, min(1) + 1200, a1);
  add('play_recovered', ALICE_PLAY, min(15) + 41000, a1);

  const a2 = play('play-alice-2', 'alice', 'news24', '192.0.2.7', 'src-news', tv, 'edge2');
  add('play_opened', 'play-alice-2', min(5), a2);
  add('play_started', 'play-alice-2', min(5) + 900, a2);
  add('play_updated', 'play-alice-2', min(29), Object.assign({ bytes: 50000000 }, a2));

  const b1 = play('play-bob-1', 'bob', 'hockey1', '10.0.1.9', 'src-hockey', chrome);
  add('play_opened', 'play-bob-1', min(3), b1);
  add('play_started', 'play-bob-1', min(3) + 2500, b1);
  const b2 = play('play-bob-2', 'bob', 'hockey1', '10.0.1.9', 'src-hockey', chrome, 'edge2');
  add('play_opened', 'play-bob-2', min(26), b2);
  add('play_started', 'play-bob-2', min(26) + 700, b2);
  add('play_stalled', 'play-bob-2', min(29.5), b2);

  const c1 = play('play-carol-1', 'carol', 'news24', '10.0.2.3', 'src-news', tv);
  add('play_opened', 'play-carol-1', min(8), c1);
  add('play_denied', 'play-carol-1', min(8) + 200, Object.assign({ reason: 'token expired' }, c1));
  const c2 = play('play-carol-2', 'carol', 'hockey1', '10.0.2.3', 'src-hockey', tv);
  add('play_opened', 'play-carol-2', min(9), c2);
  add('play_closed', 'play-carol-2', min(9) + 3000, Object.assign({ reason: 'normal' }, c2));

  const d1 = play('play-dave-1', 'dave', 'hockey1', '10.0.3.4', 'src-hockey', chrome);
  add('play_opened', 'play-dave-1', min(2), d1);
  add('play_started', 'play-dave-1', min(2) + 1800, d1);
  add('play_closed', 'play-dave-1', min(28), Object.assign({ reason: 'normal' }, d1));

  const e1 = play('play-erin-1', 'erin', 'news24', '10.0.4.8', 'src-news', tv, 'edge2');
  add('play_opened', 'play-erin-1', min(12), e1);
  add('play_started', 'play-erin-1', min(12) + 600, e1);
  return ev;
}

export async function post(base, events, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/events`, { method: 'POST', headers, body: JSON.stringify(events) });
  const body = await res.json();
  if (res.status !== 200 || body.accepted !== events.length) {
    throw new Error(`POST /events: ${res.status} ${JSON.stringify(body)}`);
  }
  // The session rows follow the events within --session-flush: make them
  // current now, so the page shows the scenario at once.
  const flushed = await fetch(`${base}/flush`, { method: 'POST', headers, body: '' });
  if (flushed.status !== 200) throw new Error(`POST /flush: ${flushed.status}`);
  return body;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url, token] = process.argv.slice(2);
  if (!url) {
    console.error('usage: node scenario.mjs http://127.0.0.1:8080 [TOKEN]');
    process.exit(2);
  }
  console.log(JSON.stringify(await post(url.replace(/\/$/, ''), scenario(), token)));
}
