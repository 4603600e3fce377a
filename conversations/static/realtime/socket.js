/* The socket core of both clients: the agent workspace imports it as an ES module, and the
   widget's loader view (widget/views.py) serves it inside the one widget script. So this file
   imports nothing, touches no DOM outside what it is handed, and ends with its one export line,
   which the loader view removes.

   It implements docs/realtime.md "Rules for a client" once: connect, backoff with jitter,
   heartbeat, the outbox keyed by client_msg_id (resent after each session.ready, retried after
   `retry_after` on rate_limited), and messages kept once per seq in seq order. What differs is
   passed in: the visitor's `auth` frame (`hello`), what a refused session means, and where the
   agent fills holes with `resume` (it reads `upTo` of a SeqMap). */

const PING_MS = 25000; // unless session.ready names another heartbeat_seconds
const PONG_TIMEOUT_MS = 10000;
const MAX_BACKOFF_MS = 30000;

// Exponential backoff with jitter, so thousands of clients do not reconnect in step after a
// server restart.
const backoff = (attempt) => Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);

// Messages of one conversation by seq, shown once each. `upTo` is the highest seq with no hole
// below it (what an agent resumes from); `max` the highest seq held (what a visitor, whose socket
// the server keeps free of holes, reconnects with).
class SeqMap extends Map {
  constructor() {
    super();
    this.upTo = 0;
    this.max = 0;
  }

  // False for a copy of a seq already held (ack + broadcast, replay + broadcast).
  add(seq, value) {
    if (this.has(seq)) return false;
    this.set(seq, value);
    if (seq > this.max) this.max = seq;
    while (this.has(this.upTo + 1)) this.upTo += 1;
    return true;
  }

  // A seq above the unbroken run is known (held, or `last` says it exists): one went missing.
  behind(last) {
    return Math.max(last || 0, this.max) > this.upTo;
  }
}

// Insert `li` into `list` among its ordered children: after the last one that is not later.
// Walks from the end (new messages mostly belong there); stops at `isFloor` nodes, which stay on
// top (the widget's welcome line).
function insertOrdered(list, li, isLater, isFloor) {
  let before = null;
  for (let node = list.lastElementChild; node && !(isFloor && isFloor(node)); node = node.previousElementSibling) {
    if (node === li) continue;
    if (!isLater(node)) break;
    before = node;
  }
  list.insertBefore(li, before);
}

/* options:
     url()            the socket address, asked at each connect
     hello()          optional: the first frame once open (the visitor's `auth`); the agent's
                      session comes from its cookie
     ownKind          the sender_kind of this client's own messages ("agent" or "visitor")
     onFrame(frame)   every frame the core does not consume
     accept(frame)    optional: false refuses a session.ready (the caller reopened the socket)
     onReady(frame)   after session.ready; it calls resend() where its order wants the outbox
     onFailed(id, entry, message, frame)  the server refused an outbox entry (frame: its error)
     onConnecting()   a socket is being opened
     onDropped(code, delay)  the socket is gone; delay: ms until the next try (null: none)
     onRefused(code)  4401/4403: the session is not (or no longer) valid; no retry is scheduled
     retryDelay(code) optional: ms before reconnecting after `code` (else backoff) */
function createSocket(options) {
  let ws = null;
  let ready = false;
  let everReady = false;
  let stopped = false;
  let attempts = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  // client_msg_id -> entry {frame, failed, ...the caller's fields}: written, not yet stored.
  const outbox = new Map();

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    ready = false;
    if (stopped) return;
    if (options.onConnecting) options.onConnecting();
    const sock = new WebSocket(options.url());
    ws = sock;
    sock.onopen = () => {
      const first = options.hello && options.hello();
      if (first) sock.send(JSON.stringify(first));
    };
    sock.onmessage = (event) => {
      if (sock !== ws) return;
      clearTimeout(pongTimer); // any frame proves the connection is alive
      pongTimer = null;
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    };
    sock.onclose = (event) => { if (sock === ws) dropped(event.code); };
  }

  function dropped(code) {
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    pongTimer = null;
    if (code === 4401 || code === 4403) {
      options.onRefused(code);
      if (options.onDropped) options.onDropped(code, null);
      return;
    }
    if (stopped || reconnectTimer) {
      if (options.onDropped) options.onDropped(code, null);
      return;
    }
    const custom = options.retryDelay && options.retryDelay(code);
    const delay = custom === undefined || custom === null ? backoff(attempts++) : custom;
    reconnectTimer = setTimeout(connect, delay);
    if (options.onDropped) options.onDropped(code, delay);
  }

  // Reconnect later (after a refused session was renewed, say).
  function scheduleReconnect() {
    if (reconnectTimer || stopped) return;
    reconnectTimer = setTimeout(connect, backoff(attempts++));
  }

  // Close the socket on purpose (a dead connection, or to resume from elsewhere); `now`
  // reconnects at once instead of after the backoff.
  function reopen(now) {
    const sock = ws;
    ws = null;
    if (sock) sock.close();
    dropped(1000);
    if (now) connect();
  }

  // Signed out: close and never reconnect.
  function stop() {
    stopped = true;
    clearTimeout(reconnectTimer);
    const sock = ws;
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    if (sock) sock.close();
  }

  // The browser says the network is back: do not wait out the backoff.
  function online() {
    if (!ws && !stopped) connect();
  }

  function heartbeat(seconds) {
    // The server closes sockets that stay silent too long; it says how often to ping.
    pingTimer = setInterval(() => {
      send({ type: "ping" });
      // Armed once, not re-armed by each ping: frequent pings must not postpone it forever.
      if (!pongTimer) pongTimer = setTimeout(() => { pongTimer = null; reopen(false); }, PONG_TIMEOUT_MS);
    }, seconds ? seconds * 1000 : PING_MS);
  }

  function handle(frame) {
    if (frame.type === "session.ready") {
      if (options.accept && !options.accept(frame)) return;
      ready = true;
      everReady = true;
      attempts = 0;
      heartbeat(frame.heartbeat_seconds);
      options.onReady(frame);
      return;
    }
    if (frame.type === "error" && frame.ref && outbox.has(frame.ref)) {
      if (frame.code === "rate_limited") {
        // Nothing was done; the same client_msg_id goes out again when allowed.
        setTimeout(() => transmit(frame.ref), (frame.retry_after || 1) * 1000);
      } else {
        const entry = outbox.get(frame.ref);
        entry.failed = true;
        options.onFailed(frame.ref, entry, frame.message, frame);
      }
      return;
    }
    options.onFrame(frame);
  }

  // --- Outbox -------------------------------------------------------------------------------

  function transmit(id) {
    const entry = outbox.get(id);
    if (entry && !entry.failed && ready) send(entry.frame);
    // Not connected: it waits in the outbox and goes out after the next session.ready.
  }

  function queue(id, entry) {
    outbox.set(id, entry);
    transmit(id);
  }

  // Send a failed entry again, with the same client_msg_id: the server stores it at most once.
  function retry(id) {
    const entry = outbox.get(id);
    if (!entry) return;
    entry.failed = false;
    transmit(id);
  }

  // Every unacknowledged entry again, after a session.ready.
  function resend() {
    for (const id of outbox.keys()) transmit(id);
  }

  // A stored message came back: if it is one of ours, its outbox entry is done (returned).
  function settle(message) {
    if (message.sender_kind !== options.ownKind || !message.client_msg_id) return null;
    const entry = outbox.get(message.client_msg_id);
    if (entry) outbox.delete(message.client_msg_id);
    return entry || null;
  }

  return {
    connect, send, reopen, stop, online, scheduleReconnect, outbox, queue, retry, resend, settle,
    get ready() { return ready; },
    get everReady() { return everReady; },
    get stopped() { return stopped; },
    get connected() { return ws !== null; },
  };
}

export { createSocket, SeqMap, insertOrdered, backoff, MAX_BACKOFF_MS };
