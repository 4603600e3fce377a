/* The agent workspace: inbox, open conversation, reply box, visitor details.

   Data: the REST API (session cookie + X-Kefu-Merchant header) for the inbox and message
   history; the agent socket /ws/agent/<merchant>/ for everything live. The database is the
   source of truth: after every (re)connect the inbox is reloaded and the open conversation
   re-fetched after the last seq shown, because the socket delivers at most once.

   Visitor and agent text is untrusted: it only ever goes through textContent. */
(() => {
  "use strict";

  const PING_MS = 25000; // unless session.ready names another heartbeat_seconds
  const PONG_TIMEOUT_MS = 10000;
  const MAX_BACKOFF_MS = 30000;

  const root = document.getElementById("workspace");
  const MERCHANT = Number(root.dataset.merchantId);
  const DISPLAY_NAME = root.dataset.displayName;
  const API = "/api/v1";
  const gettext = window.gettext || ((s) => s);  // named so makemessages finds the strings
  const fmt = window.interpolate || ((s, args) => s.replace(/%s/g, () => args.shift()));
  const $ = (id) => document.getElementById(id);

  const ui = {
    conn: $("conn"), notice: $("notice"), list: $("conv-list"), listEmpty: $("conv-empty"),
    more: $("conv-more"), thread: $("thread"), threadEmpty: $("thread-empty"),
    title: $("thread-title"), status: $("thread-status"), messages: $("messages"),
    form: $("reply"), body: $("reply-body"), private: $("reply-private"),
    visitorEmpty: $("visitor-empty"), visitorInfo: $("visitor-info"),
  };

  const STATUS = {
    open: gettext("Open"), pending: gettext("Pending"), resolved: gettext("Resolved"), closed: gettext("Closed"),
  };

  // --- State --------------------------------------------------------------------------------

  const conversations = new Map(); // id -> ConversationOut
  let nextPage = null;             // the inbox's next page URL, if any
  let openId = null;               // the conversation shown in the middle pane
  let loadToken = 0;               // guards against a slow fetch for a conversation left since
  const shown = new Map();         // seq -> <li> of the open conversation's stored messages
  const outbox = new Map();        // client_msg_id -> {frame, li, failed}: not yet acknowledged
  const readSent = new Map();      // conversation id -> highest seq marked read on this socket
  let ws = null;
  let ready = false;
  let everReady = false;
  let attempts = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let noticeTimer = null;

  // --- Helpers ------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child) node.append(child); // strings become text nodes
    return node;
  }

  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return "a" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const time = (iso) => (iso ? Date.parse(iso) : 0);

  function timeText(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  function notify(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, 8000);
  }

  const backoff = (attempt) =>
    Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);

  // --- REST API -----------------------------------------------------------------------------

  async function api(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Kefu-Merchant": String(MERCHANT) },
    });
    if (response.status === 401 || response.status === 403) {
      signedOut();
      throw new Error(`HTTP ${response.status}`);
    }
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
    return response.json();
  }

  // Lists are either a plain array or a page {results, next}.
  async function fetchAll(url) {
    const rows = [];
    while (url) {
      const data = await api(url);
      if (Array.isArray(data)) return rows.concat(data);
      rows.push(...data.results);
      url = data.next;
    }
    return rows;
  }

  function signedOut() {
    setConn("offline", gettext("Your session has ended. Sign in again."));
    clearTimeout(reconnectTimer);
    reconnectTimer = -1; // never reconnect
    if (ws) { const sock = ws; ws = null; sock.close(); }
    const link = el("a", { href: root.dataset.loginUrl, text: gettext("Sign in") });
    ui.notice.replaceChildren(link);
    ui.notice.hidden = false;
  }

  // --- Inbox --------------------------------------------------------------------------------

  function upsert(conversation) {
    const known = conversations.get(conversation.id);
    // A reloaded page can be older than a live update that arrived while it was in flight.
    if (known && known.last_seq > conversation.last_seq) return;
    conversations.set(conversation.id, conversation);
  }

  async function loadList(url) {
    try {
      const data = await api(url || `${API}/conversations/`);
      const rows = Array.isArray(data) ? data : data.results;
      if (!url) nextPage = Array.isArray(data) ? null : data.next;
      else nextPage = data.next || null;
      rows.forEach(upsert);
      renderList();
      if (openId !== null) renderOpenHeader();
    } catch (err) {
      console.error("[kefu] inbox", err);
      if (reconnectTimer !== -1) notify(gettext("Could not load the conversations."));
    }
  }

  function renderList() {
    const rows = [...conversations.values()].sort(
      (a, b) => time(b.last_message_at || b.created_at) - time(a.last_message_at || a.created_at) || b.id - a.id,
    );
    ui.list.replaceChildren(...rows.map(renderRow));
    ui.listEmpty.hidden = rows.length > 0;
    ui.more.hidden = !nextPage;
    const unread = rows.reduce((sum, c) => sum + c.unread_count, 0);
    document.title = (unread ? `(${unread}) ` : "") + document.title.replace(/^\(\d+\) /, "");
  }

  function renderRow(c) {
    const badge = c.unread_count ? el("span", { class: "badge", text: String(c.unread_count) }) : null;
    const status = c.status !== "open" ? el("span", { class: "chip", text: STATUS[c.status] || c.status }) : null;
    const preview = c.last_message_sender_kind && c.last_message_sender_kind !== "visitor"
      ? fmt(gettext("Reply: %s"), [c.last_message_preview]) : c.last_message_preview;
    const button = el("button", { type: "button", class: "conv", "data-id": String(c.id) },
      el("span", { class: "conv-top" },
        el("span", { class: "conv-name", text: c.visitor.name }),
        el("time", { class: "conv-time", text: timeText(c.last_message_at || c.created_at) }),
      ),
      el("span", { class: "conv-bottom" },
        el("span", { class: "conv-preview", text: preview || "" }), status, badge,
      ),
    );
    const li = el("li", { class: "conv-row" + (c.id === openId ? " active" : "") + (c.unread_count ? " unread" : "") }, button);
    li.dataset.id = c.id;
    return li;
  }

  // --- Open conversation --------------------------------------------------------------------

  function messagesUrl(id, afterSeq) {
    return `${API}/conversations/${id}/messages/` + (afterSeq ? `?after_seq=${afterSeq}` : "");
  }

  const lastShownSeq = () => Math.max(0, ...shown.keys());

  async function openConversation(id) {
    openId = id;
    history.replaceState(null, "", `#c${id}`);
    shown.clear();
    ui.messages.replaceChildren();
    ui.thread.hidden = false;
    ui.threadEmpty.hidden = true;
    renderList();
    renderOpenHeader();
    await catchUp();
    if (openId !== id) return; // another conversation was opened meanwhile
    // Unacknowledged replies to this conversation stay visible below the stored messages.
    for (const out of outbox.values()) if (out.frame.conversation_id === id) ui.messages.append(out.li);
    scrollDown(true);
    markRead();
    ui.body.focus();
  }

  // Fetch the open conversation's messages after the last one shown (all of them at first).
  async function catchUp() {
    if (openId === null) return;
    const id = openId;
    const token = ++loadToken;
    try {
      const rows = await fetchAll(messagesUrl(id, lastShownSeq()));
      if (token !== loadToken || id !== openId) return;
      rows.forEach((m) => receive(m, false));
      markRead();
    } catch (err) {
      console.error("[kefu] messages", err);
      if (reconnectTimer !== -1) notify(gettext("Could not load the messages."));
    }
  }

  function renderOpenHeader() {
    const c = conversations.get(openId);
    ui.title.textContent = c ? c.visitor.name : `#${openId}`;
    ui.status.textContent = c ? STATUS[c.status] || c.status : "";
    ui.visitorEmpty.hidden = Boolean(c);
    ui.visitorInfo.hidden = !c;
    if (!c) return;
    const v = c.visitor;
    $("v-name").textContent = v.name || "—";
    $("v-email").textContent = v.email || "—";
    $("v-page-title").textContent = v.page_title || "—";
    // Shown as text, not a link: the URL comes from the visitor's browser.
    $("v-page-url").textContent = v.page_url || "—";
    $("v-seen").textContent = v.last_seen_at ? new Date(v.last_seen_at).toLocaleString() : "—";
  }

  function renderMessage(m) {
    const li = el("li", { class: `msg from-${m.sender_kind}` + (m.private ? " note" : "") },
      el("div", { class: "meta" },
        el("span", { class: "sender", text: m.sender_name || "" }),
        m.private ? el("span", { class: "note-label", text: gettext("Private note") }) : null,
        el("time", { class: "when", text: timeText(m.created_at) }),
      ),
      el("div", { class: "text", text: m.body }),
    );
    if (m.seq) li.dataset.seq = m.seq;
    return li;
  }

  function nearBottom() {
    const box = ui.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || nearBottom()) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // Stored messages in seq order; unacknowledged ones (no seq) stay below them.
  function place(li, seq) {
    let before = null;
    for (let node = ui.messages.lastElementChild; node; node = node.previousElementSibling) {
      if (node.dataset.seq && Number(node.dataset.seq) < seq) break;
      before = node;
    }
    ui.messages.insertBefore(li, before);
  }

  // A stored message (API page, message.created or message.ack).
  function receive(m, live) {
    const out = m.sender_kind === "agent" && m.client_msg_id ? outbox.get(m.client_msg_id) : null;
    if (out) {
      outbox.delete(m.client_msg_id);
      out.li.remove();
    }
    if (m.conversation_id !== openId || shown.has(m.seq)) return;
    const stick = nearBottom();
    const li = renderMessage(m);
    shown.set(m.seq, li);
    place(li, m.seq);
    if (stick || out) scrollDown(true);
    if (live && m.sender_kind === "visitor") markRead();
  }

  function markRead() {
    if (openId === null || !ready || document.visibilityState !== "visible") return;
    const seq = lastShownSeq();
    const c = conversations.get(openId);
    if (seq > (readSent.get(openId) || 0) || (c && c.unread_count && seq >= c.last_seq)) {
      readSent.set(openId, seq);
      send({ type: "conversation.read", conversation_id: openId, seq });
    }
  }

  // --- Replying -----------------------------------------------------------------------------

  function submit() {
    const body = ui.body.value.trim();
    if (!body || openId === null) return;
    const id = randomId();
    const frame = { type: "message.send", conversation_id: openId, client_msg_id: id, body, private: ui.private.checked };
    const li = renderMessage({ sender_kind: "agent", sender_name: DISPLAY_NAME, body, private: frame.private });
    li.classList.add("pending");
    li.dataset.clientMsgId = id;
    li.querySelector(".when").textContent = gettext("Sending…");
    outbox.set(id, { frame, li, failed: false });
    ui.messages.append(li);
    ui.body.value = "";
    scrollDown(true);
    transmit(id);
  }

  function transmit(id) {
    const out = outbox.get(id);
    if (out && !out.failed && ready) send(out.frame);
    // Not connected: it waits in the outbox and goes out after the next session.ready.
  }

  function fail(id, message) {
    const out = outbox.get(id);
    if (!out) return;
    out.failed = true;
    out.li.classList.remove("pending");
    out.li.classList.add("failed");
    out.li.querySelector(".when").textContent = "";
    const retry = el("button", { type: "button", class: "link retry", text: gettext("Retry") });
    retry.addEventListener("click", () => {
      out.failed = false;
      out.li.classList.replace("failed", "pending");
      out.li.querySelector(".when").textContent = gettext("Sending…");
      out.li.querySelector(".err").remove();
      transmit(id); // same client_msg_id: stored at most once
    });
    out.li.append(el("div", { class: "err" }, fmt(gettext("Not sent: %s"), [message]) + " ", retry));
  }

  // --- Socket -------------------------------------------------------------------------------

  function setConn(kind, text) {
    ui.conn.className = `conn conn-${kind}`;
    ui.conn.textContent = text;
  }

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function connect() {
    reconnectTimer = null;
    ready = false;
    setConn(everReady ? "reconnecting" : "connecting", everReady ? gettext("Reconnecting…") : gettext("Connecting…"));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const sock = new WebSocket(`${scheme}://${location.host}/ws/agent/${MERCHANT}/`);
    ws = sock;
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
    if (code === 4401 || code === 4403) { signedOut(); return; }
    if (reconnectTimer) return;
    const delay = backoff(attempts++);
    setConn("reconnecting", fmt(gettext("Disconnected, reconnecting in %s s…"), [Math.ceil(delay / 1000)]));
    reconnectTimer = setTimeout(connect, delay);
  }

  function handle(frame) {
    switch (frame.type) {
      case "session.ready": onReady(frame); break;
      case "message.created": receive(frame.message, true); break;
      case "history": frame.messages.forEach((m) => receive(m, false)); break;
      case "message.ack": receive(frame.message, false); break;
      case "conversation.updated":
        upsert(frame.conversation);
        renderList();
        if (frame.conversation.id === openId) renderOpenHeader();
        break;
      case "visitor.updated": visitorUpdated(frame.visitor); break;
      case "error":
        if (frame.code === "rate_limited" && outbox.has(frame.ref)) {
          // Nothing was done; the same client_msg_id goes out again when allowed.
          setTimeout(() => transmit(frame.ref), (frame.retry_after || 1) * 1000);
        } else if (frame.ref && outbox.has(frame.ref)) {
          fail(frame.ref, frame.message);
        } else {
          notify(`${frame.message} (${frame.code})`);
        }
        break;
      default: break; // pong, and frames newer than this script
    }
  }

  // A visitor moved to another page, or came online or went away: update every row of theirs.
  function visitorUpdated(visitor) {
    let touched = false;
    for (const c of conversations.values()) {
      if (c.visitor.id !== visitor.id) continue;
      const online = visitor.online === null || visitor.online === undefined ? c.visitor.online : visitor.online;
      c.visitor = Object.assign({}, visitor, { online });
      touched = true;
    }
    if (!touched) return;
    renderList();
    if (openId !== null) renderOpenHeader();
  }

  function onReady(frame) {
    ready = true;
    everReady = true;
    attempts = 0;
    readSent.clear(); // a read sent on a socket that died may not have arrived
    setConn("online", gettext("Connected"));
    // The server closes sockets that stay silent too long; it says how often to ping.
    const every = frame.heartbeat_seconds ? frame.heartbeat_seconds * 1000 : PING_MS;
    pingTimer = setInterval(() => {
      send({ type: "ping" });
      // Armed once, not re-armed by each ping: frequent pings must not postpone it forever.
      if (pongTimer) return;
      pongTimer = setTimeout(() => {
        // No answer: the connection is dead even if the browser has not noticed yet.
        pongTimer = null;
        const sock = ws;
        ws = null;
        if (sock) sock.close();
        dropped(1006);
      }, PONG_TIMEOUT_MS);
    }, every);
    // Whatever happened while we were away is in the database.
    loadList();
    catchUp();
    for (const id of outbox.keys()) transmit(id);
  }

  // --- Wiring -------------------------------------------------------------------------------

  ui.list.addEventListener("click", (event) => {
    const button = event.target.closest("button.conv");
    if (button) openConversation(Number(button.dataset.id));
  });
  ui.more.addEventListener("click", () => { if (nextPage) loadList(nextPage); });
  ui.form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  ui.body.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition does not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  ui.private.addEventListener("change", () => ui.form.classList.toggle("note-mode", ui.private.checked));
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("online", () => {
    if (!ws && reconnectTimer !== -1) { clearTimeout(reconnectTimer); connect(); }
  });

  connect();
  loadList();
  const fromHash = /^#c(\d+)$/.exec(location.hash);
  if (fromHash) openConversation(Number(fromHash[1]));
})();
