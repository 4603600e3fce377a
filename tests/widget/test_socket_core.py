"""The socket core both clients share (conversations/static/realtime/socket.js), alone under
node with a fake WebSocket and fake timers: the rules for a client (docs/realtime.md) that the
browser tests only reach through a real server. Needs node (Debian's nodejs)."""

import subprocess
from pathlib import Path

from tests.conftest import require_node

CORE = Path(__file__).resolve().parents[2] / "conversations/static/realtime/socket.js"

HARNESS = r"""
import assert from "node:assert/strict";
import { createSocket, SeqMap, insertOrdered, MAX_BACKOFF_MS } from "./socket.mjs";

// --- Fakes: timers on a manual clock, and a WebSocket the test drives --------------------------
let now = 0;
let nextId = 1;
const timers = new Map();
globalThis.setTimeout = (fn, ms) => { const id = nextId++; timers.set(id, { fn, at: now + (ms || 0) }); return id; };
globalThis.clearTimeout = (id) => { timers.delete(id); };
globalThis.setInterval = (fn, ms) => {
  const id = nextId++;
  const arm = () => timers.set(id, { fn: () => { arm(); fn(); }, at: now + ms });
  arm();
  return id;
};
globalThis.clearInterval = globalThis.clearTimeout;
function advance(ms) {
  const end = now + ms;
  for (;;) {
    let next = null;
    for (const [id, t] of timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
    if (!next) break;
    timers.delete(next[0]);
    now = next[1].at;
    next[1].fn();
  }
  now = end;
}

const sockets = [];
class FakeSocket {
  static OPEN = 1;
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; this.closed = false; sockets.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.closed = true; this.readyState = 3; }
  open() { this.readyState = 1; if (this.onopen) this.onopen(); }
  receive(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
  drop(code) { this.readyState = 3; this.onclose({ code }); }
  types() { return this.sent.map((f) => f.type); }
}
globalThis.WebSocket = FakeSocket;

function client(extra) {
  const log = { ready: 0, failed: [], dropped: [], refused: [], frames: [] };
  const socket = createSocket(Object.assign({
    url: () => "ws://test/ws/visitor/",
    ownKind: "visitor",
    hello: () => ({ type: "auth", token: "t", last_seq: 0 }),
    onFrame: (f) => log.frames.push(f.type),
    onReady: () => { log.ready += 1; socket.resend(); },
    onFailed: (id, entry, message) => log.failed.push([id, entry.failed, message]),
    onDropped: (code, delay) => log.dropped.push([code, delay]),
    onRefused: (code) => log.refused.push(code),
    retryDelay: (code) => (code === 4429 ? MAX_BACKOFF_MS : null),
  }, extra || {}));
  return { socket, log };
}

// --- SeqMap: once per seq, and the hole an agent resumes from ----------------------------------
{
  const seqs = new SeqMap();
  assert.equal(seqs.add(1, "a"), true);
  assert.equal(seqs.add(3, "c"), true);
  assert.equal(seqs.add(3, "copy"), false);
  assert.equal(seqs.get(3), "c");
  assert.deepEqual([seqs.upTo, seqs.max], [1, 3]);
  assert.equal(seqs.behind(0), true);
  assert.equal(seqs.add(2, "b"), true);
  assert.deepEqual([seqs.upTo, seqs.max], [3, 3]);
  assert.equal(seqs.behind(3), false);
  assert.equal(seqs.behind(4), true); // the inbox row knows of seq 4
}

// --- insertOrdered: after the last node that is not later; floor nodes stay on top --------------
{
  const node = (seq, floor) => ({ seq, floor });
  const list = {
    children: [node(0, true), node(1), node(4), node(null)],
    get lastElementChild() { return this.children[this.children.length - 1] || null; },
    insertBefore(li, before) {
      this.children = this.children.filter((n) => n !== li);
      const at = before ? this.children.indexOf(before) : this.children.length;
      this.children.splice(at, 0, li);
    },
  };
  for (const n of list.children) {
    Object.defineProperty(n, "previousElementSibling", { get: () => list.children[list.children.indexOf(n) - 1] || null });
  }
  const li = node(2);
  Object.defineProperty(li, "previousElementSibling", { get: () => list.children[list.children.indexOf(li) - 1] || null });
  // null seq = unacknowledged: later than everything stored.
  insertOrdered(list, li, (n) => n.seq === null || n.seq > li.seq, (n) => n.floor);
  assert.deepEqual(list.children.map((n) => n.seq), [0, 1, 2, 4, null]);
  const early = node(-1);
  Object.defineProperty(early, "previousElementSibling", { get: () => list.children[list.children.indexOf(early) - 1] || null });
  insertOrdered(list, early, (n) => n.seq === null || n.seq > early.seq, (n) => n.floor);
  assert.equal(list.children[1], early); // below the floor even though "earlier" than it
}

// --- Outbox: sent when ready, resent after session.ready, rate limits, refusals, settling -------
{
  const { socket, log } = client();
  socket.queue("m1", { frame: { type: "message.send", client_msg_id: "m1", body: "hi" }, failed: false });
  socket.connect();
  const ws = sockets.at(-1);
  ws.open();
  assert.deepEqual(ws.types(), ["auth"]); // not ready yet: the message waits
  ws.receive({ type: "session.ready", heartbeat_seconds: 20 });
  assert.equal(log.ready, 1);
  assert.deepEqual(ws.types(), ["auth", "message.send"]);
  ws.receive({ type: "error", code: "rate_limited", ref: "m1", retry_after: 2 });
  advance(1999);
  assert.equal(ws.sent.length, 2);
  advance(1);
  assert.deepEqual(ws.sent.at(-1), { type: "message.send", client_msg_id: "m1", body: "hi" });
  ws.receive({ type: "error", code: "invalid", ref: "m1", message: "too long" });
  assert.deepEqual(log.failed, [["m1", true, "too long"]]);
  socket.resend();
  assert.equal(ws.sent.length, 3); // a failed entry waits for retry()
  socket.retry("m1");
  assert.equal(ws.sent.length, 4);
  ws.receive({ type: "error", code: "invalid", ref: "other" }); // not ours: the caller's
  assert.deepEqual(log.frames, ["error"]);
  assert.equal(socket.settle({ sender_kind: "agent", client_msg_id: "m1" }), null);
  assert.equal(socket.settle({ sender_kind: "visitor", client_msg_id: "m1" }).frame.body, "hi");
  assert.equal(socket.outbox.size, 0);
  socket.stop();
}

// --- Heartbeat: ping on the server's period; silence after a ping reopens the socket -----------
{
  const { socket, log } = client();
  socket.connect();
  const ws = sockets.at(-1);
  ws.open();
  ws.receive({ type: "session.ready", heartbeat_seconds: 20 });
  advance(20000);
  assert.equal(ws.types().at(-1), "ping");
  ws.receive({ type: "pong" }); // any frame proves the connection alive
  advance(20000 + 9999);
  assert.equal(ws.closed, false);
  advance(1);
  assert.equal(ws.closed, true);
  assert.equal(log.dropped.length, 1);
  const [code, delay] = log.dropped[0];
  assert.ok(code === 1000 && delay >= 250 && delay <= 500, String(delay)); // first backoff step
  const count = sockets.length;
  advance(delay);
  assert.equal(sockets.length, count + 1);
  socket.stop();
}

// Pings more often than the pong timeout: the first unanswered ping's deadline still holds.
{
  const { socket } = client();
  socket.connect();
  const ws = sockets.at(-1);
  ws.open();
  ws.receive({ type: "session.ready", heartbeat_seconds: 4 });
  advance(4000 + 9999);
  assert.equal(ws.closed, false);
  advance(1);
  assert.equal(ws.closed, true);
  socket.stop();
}

// --- Reconnects: backoff grows, 4429 waits the longest, refusals stop, stop() is final ---------
{
  const { socket, log } = client();
  socket.connect();
  sockets.at(-1).drop(1006);
  advance(MAX_BACKOFF_MS);
  sockets.at(-1).drop(1006);
  const [first, second] = log.dropped.map(([, d]) => d);
  assert.ok(first <= 500 && second >= 500 && second <= 1000, `${first} ${second}`);
  advance(MAX_BACKOFF_MS);
  sockets.at(-1).drop(4429);
  assert.equal(log.dropped.at(-1)[1], MAX_BACKOFF_MS);
  advance(MAX_BACKOFF_MS);
  const count = sockets.length;
  sockets.at(-1).drop(4401);
  assert.deepEqual(log.refused, [4401]);
  assert.equal(log.dropped.at(-1)[1], null);
  advance(10 * MAX_BACKOFF_MS);
  assert.equal(sockets.length, count); // nothing scheduled: the caller renews the session
  socket.scheduleReconnect();
  advance(MAX_BACKOFF_MS);
  assert.equal(sockets.length, count + 1);
  socket.stop();
  assert.equal(sockets.at(-1).closed, true);
  socket.online();
  advance(10 * MAX_BACKOFF_MS);
  assert.equal(sockets.length, count + 1);
}

// --- accept(): a refused session.ready changes nothing --------------------------------------------
{
  const { socket, log } = client({ accept: () => false });
  socket.connect();
  const ws = sockets.at(-1);
  ws.open();
  ws.receive({ type: "session.ready" });
  assert.equal(log.ready, 0);
  assert.equal(socket.ready, false);
  socket.stop();
}
console.log("core ok");
"""


def test_socket_core_under_node(tmp_path):
    require_node()
    (tmp_path / "socket.mjs").write_text(CORE.read_text())
    (tmp_path / "harness.mjs").write_text(HARNESS)
    result = subprocess.run(
        ["node", "harness.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "core ok"
