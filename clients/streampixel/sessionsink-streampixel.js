/*
 * sessionsink-streampixel.js — relays a Streampixel viewer's session to
 * sessionsink (POST /events/streampixel). No dependencies; include it on the
 * page that embeds the Streampixel iframe, before the iframe loads:
 *
 *   <script src="sessionsink-streampixel.js"></script>
 *   <script>
 *     const relay = SessionsinkStreampixel.start({
 *       sinkUrl: 'https://sink.example.net/events/streampixel',
 *       userId: currentUser.id,      // optional
 *       project: 'my-project',       // optional: becomes the session's media
 *       token: 'SECRET',             // optional: sent as ?token=
 *     });
 *   </script>
 *
 * It forwards the iframe's window.postMessage messages of type
 * "stream-state" and "stream-metadata" (only from iframeOrigin), and
 * whatever the page passes to report() (Web SDK disconnect codes, AFK
 * events). Each message is sent at once, as one item:
 *
 *   {"key", "seq", "at", "message", "user_id", "project", "page", "user_agent"}
 *
 * with navigator.sendBeacon and a text/plain body (no CORS preflight), or
 * fetch(keepalive) when the beacon is refused. See README.md beside this file.
 */
(function (root) {
  'use strict';

  var DEFAULT_IFRAME_ORIGIN = 'https://share.streampixel.io';
  var RELAYED_TYPES = { 'stream-state': true, 'stream-metadata': true };
  var TEXT_PLAIN = 'text/plain;charset=UTF-8';

  // One random id: crypto.randomUUID, else a v4 UUID from getRandomValues,
  // else (very old browsers) from Math.random and the clock.
  function newKey() {
    var c = root.crypto;
    try {
      if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    } catch (e) { /* insecure context: fall through */ }
    var b = new Array(16);
    var i;
    if (c && typeof c.getRandomValues === 'function') {
      var u = new Uint8Array(16);
      c.getRandomValues(u);
      for (i = 0; i < 16; i++) b[i] = u[i];
    } else {
      var t = Date.now();
      for (i = 0; i < 16; i++) b[i] = (Math.floor(Math.random() * 256) ^ (t >>> ((i % 4) * 8))) & 255;
    }
    b[6] = (b[6] & 15) | 64;  // version 4
    b[8] = (b[8] & 63) | 128; // variant 10
    var hex = '';
    for (i = 0; i < 16; i++) {
      hex += (b[i] < 16 ? '0' : '') + b[i].toString(16);
      if (i === 3 || i === 5 || i === 7 || i === 9) hex += '-';
    }
    return hex;
  }

  // The sink URL with ?token= (sendBeacon cannot set an Authorization header).
  function endpoint(sinkUrl, token) {
    if (token === undefined || token === null || token === '') return String(sinkUrl);
    try {
      var u = new URL(String(sinkUrl), root.location ? root.location.href : undefined);
      u.searchParams.set('token', String(token));
      return u.toString();
    } catch (e) {
      var s = String(sinkUrl);
      return s + (s.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(String(token));
    }
  }

  // A message after which the session is over.
  function isEnd(message) {
    if (message.type === 'stream-state') {
      return message.value === 'disconnected' || message.value === 'failed' ||
          message.value === 'restricted';
    }
    return message.type === 'disconnect' || message.type === 'afkTimedOut';
  }

  function post(url, json) {
    var nav = root.navigator;
    try {
      if (nav && typeof nav.sendBeacon === 'function' &&
          nav.sendBeacon(url, new Blob([json], { type: TEXT_PLAIN }))) {
        return true;
      }
    } catch (e) { /* fall back to fetch */ }
    if (typeof root.fetch === 'function') {
      try {
        root.fetch(url, {
          method: 'POST',
          body: json,
          keepalive: true,
          mode: 'no-cors',
          headers: { 'Content-Type': TEXT_PLAIN },
        }).catch(function () {});
        return true;
      } catch (e) { /* nothing left to try */ }
    }
    return false;
  }

  var current = null;  // the relay start() returned last

  // Starts relaying; returns {key(), report(message), stop()}.
  function start(options) {
    var o = options || {};
    if (!o.sinkUrl) throw new Error('SessionsinkStreampixel.start: sinkUrl is required');
    var url = endpoint(o.sinkUrl, o.token);
    var iframeOrigin = o.iframeOrigin || DEFAULT_IFRAME_ORIGIN;
    var userId = o.userId === undefined || o.userId === null ? null : String(o.userId);
    var project = o.project === undefined || o.project === null ? null : String(o.project);

    var key = newKey();
    var seq = 0;
    var ended = false;   // a closing message was sent for this key
    var stopped = false;

    function send(message) {
      if (stopped || !message || typeof message !== 'object' || typeof message.type !== 'string') {
        return null;
      }
      // A message after the end belongs to a new session (the viewer
      // reconnected, or the page came back from the back-forward cache).
      if (ended) {
        key = newKey();
        ended = false;
      }
      var item = { key: key, seq: ++seq, at: Date.now(), message: message };
      if (userId !== null) item.user_id = userId;
      if (project !== null) item.project = project;
      if (root.location) item.page = root.location.href;
      if (root.navigator && root.navigator.userAgent) item.user_agent = root.navigator.userAgent;
      var json;
      try {
        json = JSON.stringify(item);
      } catch (e) {
        return null;  // not serializable (a cycle): nothing a sink could read
      }
      if (isEnd(message)) ended = true;
      post(url, json);
      return item;
    }

    function onMessage(event) {
      if (event.origin !== iframeOrigin) return;
      var data = event.data;
      if (!data || typeof data !== 'object' || !RELAYED_TYPES[data.type]) return;
      send(data);
    }

    function onPageHide() {
      if (!ended && seq > 0) send({ type: 'disconnect', code: 1001, reason: 'pagehide' });
    }

    root.addEventListener('message', onMessage);
    root.addEventListener('pagehide', onPageHide);

    var relay = {
      key: function () { return key; },
      // Forwards a message the page has (Web SDK events), e.g.
      // {type: 'disconnect', code: 4001, reason: 'No Worker Node Available'}
      // or {type: 'afkWarningActivate'}. Returns the item sent, or null.
      report: function (message) { return send(message); },
      stop: function () {
        stopped = true;
        root.removeEventListener('message', onMessage);
        root.removeEventListener('pagehide', onPageHide);
        if (current === relay) current = null;
      },
    };
    current = relay;
    return relay;
  }

  root.SessionsinkStreampixel = {
    start: start,
    // report() on the relay started last (null when none runs).
    report: function (message) { return current ? current.report(message) : null; },
  };
})(typeof window !== 'undefined' ? window : this);
