/* The agent workspace: inbox, open conversation, reply box, visitor details, team presence.

   Data: the REST API (session cookie + X-Kefu-Merchant header) for the inbox rows; the agent
   socket /ws/agent/<merchant>/ for everything live and for messages. The socket delivers at
   most once, so messages are never trusted to have all arrived: every conversation whose
   messages the page holds is caught up with `resume` (from the highest seq it holds without a
   gap) after each (re)connect and whenever a gap shows. The database is the source of truth.

   Visitor and agent text is untrusted: it only ever goes through textContent. */
(() => {
  "use strict";

  const PING_MS = 25000; // unless session.ready names another heartbeat_seconds
  const PONG_TIMEOUT_MS = 10000;
  const MAX_BACKOFF_MS = 30000;
  const TYPING_REFRESH_MS = 2500; // "typing" is re-announced this often (the widget fades it at 6 s)
  const TYPING_IDLE_MS = 4000;    // no key pressed for this long: the agent stopped typing
  const DRAFT_STALE_MS = 30000;   // a visitor's draft without news fades (a lost "stopped")
  const GAP_CHECK_MS = 1500;      // a seq gap lasting this long is filled with `resume`
  const THREAD_CACHE = 100;       // conversations whose messages stay loaded (resume takes 200)

  const root = document.getElementById("workspace");
  const MERCHANT = Number(root.dataset.merchantId);
  const MY_ID = Number(root.dataset.userId);
  const DISPLAY_NAME = root.dataset.displayName;
  const API = "/api/v1";
  const gettext = window.gettext || ((s) => s);  // named so makemessages finds the strings
  const fmt = window.interpolate || ((s, args) => s.replace(/%s/g, () => args.shift()));
  const $ = (id) => document.getElementById(id);

  const ui = {
    conn: $("conn"), notice: $("notice"), list: $("conv-list"), listEmpty: $("conv-empty"),
    more: $("conv-more"), thread: $("thread"), threadEmpty: $("thread-empty"),
    title: $("thread-title"), status: $("thread-status"), online: $("thread-online"),
    close: $("thread-close"), viewers: $("viewers"), loading: $("thread-loading"),
    messages: $("messages"), typing: $("visitor-typing"), draft: $("visitor-draft"),
    form: $("reply"), body: $("reply-body"), private: $("reply-private"),
    visitorEmpty: $("visitor-empty"), visitorInfo: $("visitor-info"),
    agents: $("agent-list"), myStatus: $("my-status"),
  };

  const STATUS = {
    open: gettext("Open"), pending: gettext("Pending"), resolved: gettext("Resolved"), closed: gettext("Closed"),
  };
  const PRESENCE = { online: gettext("Online"), away: gettext("Away"), offline: gettext("Offline") };

  // --- State --------------------------------------------------------------------------------

  const conversations = new Map(); // id -> ConversationOut (inbox rows)
  let nextPage = null;             // the inbox's next page URL, if any
  let openId = null;               // the conversation shown in the middle pane
  // id -> {messages: Map seq -> MessageOut, upTo, loaded}: conversations whose messages the
  // page holds, most recently opened last. `upTo` is the highest seq with no gap below it:
  // agents see every message (notes too), so any gap is a delivery that went missing.
  const threads = new Map();
  const shown = new Map();         // seq -> <li> of the open conversation
  const outbox = new Map();        // client_msg_id -> {frame, li, failed}: not yet acknowledged
  const readSent = new Map();      // conversation id -> highest seq marked read on this socket
  const visitorRead = new Map();   // conversation id -> highest seq the visitor has read
  const drafts = new Map();        // conversation id -> {text, timer}: the visitor's live draft
  const viewers = new Map();       // conversation id -> other agents who have it open
  const agents = new Map();        // user id -> AgentOut
  const wanted = new Set();        // conversations to catch up with the next `resume`
  let inFlight = null;             // the conversation ids of the `resume` awaiting resume.done
  let gapTimer = null;
  let typingConv = null;           // the conversation this agent is announced as typing in
  let typingAt = 0;
  let typingIdle = null;
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

  // A small online/away/offline dot; the word is its title (and read out by screen readers).
  function dot(kind, label) {
    return el("span", { class: `dot dot-${kind}`, title: label, "aria-label": label, role: "img" });
  }

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
    const online = conversation.visitor.online;
    if (known && (online === null || online === undefined)) {
      conversation.visitor.online = known.visitor.online; // null: the sender does not know
    }
    conversations.set(conversation.id, conversation);
    if (threads.has(conversation.id) && conversation.last_seq > threads.get(conversation.id).upTo) {
      scheduleGapCheck();
    }
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

  function onlineDot(visitor) {
    if (visitor.online === null || visitor.online === undefined) return null;
    return dot(visitor.online ? "online" : "offline", visitor.online ? PRESENCE.online : PRESENCE.offline);
  }

  function renderRow(c) {
    const badge = c.unread_count ? el("span", { class: "badge", text: String(c.unread_count) }) : null;
    const status = c.status !== "open" ? el("span", { class: "chip", text: STATUS[c.status] || c.status }) : null;
    const preview = c.last_message_sender_kind && c.last_message_sender_kind !== "visitor"
      ? fmt(gettext("Reply: %s"), [c.last_message_preview]) : c.last_message_preview;
    const others = viewers.get(c.id) || [];
    const seen = others.length
      ? el("span", { class: "conv-viewers", title: fmt(gettext("Also open for: %s"), [others.map((v) => v.name).join(", ")]),
        text: others.map((v) => v.name).join(", ") })
      : null;
    const button = el("button", { type: "button", class: "conv", "data-id": String(c.id) },
      el("span", { class: "conv-top" },
        onlineDot(c.visitor),
        el("span", { class: "conv-name", text: c.visitor.name }),
        seen,
        el("time", { class: "conv-time", text: timeText(c.last_message_at || c.created_at) }),
      ),
      el("span", { class: "conv-bottom" },
        el("span", { class: "conv-typing", text: gettext("typing…") }),
        el("span", { class: "conv-preview", text: preview || "" }), status, badge,
      ),
    );
    const li = el("li", { class: "conv-row" + (c.id === openId ? " active" : "") + (c.unread_count ? " unread" : "") + (drafts.has(c.id) ? " typing" : "") }, button);
    li.dataset.id = c.id;
    return li;
  }

  function rowOf(id) {
    return ui.list.querySelector(`li.conv-row[data-id="${Number(id)}"]`);
  }

  // --- Open conversation --------------------------------------------------------------------

  function threadOf(id) {
    let t = threads.get(id);
    if (t) {
      threads.delete(id); // re-inserted below: most recently used last
    } else {
      t = { messages: new Map(), upTo: 0, loaded: false };
    }
    threads.set(id, t);
    for (const old of threads.keys()) {
      if (threads.size <= THREAD_CACHE) break;
      if (old !== openId && old !== id) threads.delete(old);
    }
    return t;
  }

  function openConversation(id) {
    if (openId === id) return;
    stopTyping(); // the announcement belonged to the conversation being left
    openId = id;
    history.replaceState(null, "", `#c${id}`);
    const t = threadOf(id);
    shown.clear();
    ui.messages.replaceChildren();
    for (const m of [...t.messages.values()].sort((a, b) => a.seq - b.seq)) {
      const li = renderMessage(m);
      shown.set(m.seq, li);
      ui.messages.append(li);
    }
    // Unacknowledged replies to this conversation stay visible below the stored messages.
    for (const out of outbox.values()) if (out.frame.conversation_id === id) ui.messages.append(out.li);
    ui.thread.hidden = false;
    ui.threadEmpty.hidden = true;
    renderList();
    renderOpenHeader();
    renderLoading();
    renderViewers();
    renderDraft();
    renderTicks();
    send({ type: "conversation.view", conversation_id: id });
    if (!t.loaded) requestResume([id]);
    else scheduleGapCheck();
    scrollDown(true);
    markRead();
    ui.body.focus();
  }

  function closeConversation() {
    if (openId === null) return;
    stopTyping();
    openId = null;
    history.replaceState(null, "", location.pathname + location.search);
    shown.clear();
    ui.messages.replaceChildren();
    ui.thread.hidden = true;
    ui.threadEmpty.hidden = false;
    ui.visitorEmpty.hidden = false;
    ui.visitorInfo.hidden = true;
    renderList();
    send({ type: "conversation.view", conversation_id: null });
  }

  function renderLoading() {
    const t = threads.get(openId);
    ui.loading.hidden = !t || t.loaded;
  }

  function renderOpenHeader() {
    const c = conversations.get(openId);
    ui.title.textContent = c ? c.visitor.name : `#${openId}`;
    ui.status.textContent = c ? STATUS[c.status] || c.status : "";
    ui.online.replaceChildren(...(c ? [onlineDot(c.visitor)] : []));
    ui.visitorEmpty.hidden = Boolean(c);
    ui.visitorInfo.hidden = !c;
    if (!c) return;
    const v = c.visitor;
    $("v-name").textContent = v.name || "—";
    const known = v.online !== null && v.online !== undefined;
    $("v-online").replaceChildren(...(known ? [onlineDot(v), " ", v.online ? PRESENCE.online : PRESENCE.offline] : ["—"]));
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
    if (m.private) li.dataset.private = "1";
    return li;
  }

  // Read ticks: replies (not notes) up to the highest seq the visitor has read.
  function renderTick(li) {
    if (!li.dataset.seq || li.dataset.private || !/from-(agent|bot)/.test(li.className)) return;
    const read = Number(li.dataset.seq) <= (visitorRead.get(openId) || 0);
    if (read && !li.querySelector(".tick")) {
      li.querySelector(".meta").append(el("span", { class: "tick", text: "✓ " + gettext("Read") }));
    }
    li.classList.toggle("read", read);
  }

  function renderTicks() {
    for (const li of shown.values()) renderTick(li);
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

  // A stored message (history, message.created or message.ack).
  function receive(m, live) {
    const out = m.sender_kind === "agent" && m.client_msg_id ? outbox.get(m.client_msg_id) : null;
    if (out) {
      outbox.delete(m.client_msg_id);
      out.li.remove();
    }
    if (m.sender_kind === "visitor" && live) visitorDraft(m.conversation_id, ""); // it was sent
    const t = threads.get(m.conversation_id);
    if (!t || t.messages.has(m.seq)) return; // not loaded (resume fetches it when opened), or a copy
    t.messages.set(m.seq, m);
    while (t.messages.has(t.upTo + 1)) t.upTo += 1;
    if (m.seq > t.upTo) scheduleGapCheck();
    if (m.conversation_id !== openId) return;
    const stick = nearBottom();
    const li = renderMessage(m);
    shown.set(m.seq, li);
    place(li, m.seq);
    renderTick(li);
    if (stick || out) scrollDown(true);
    if (live && m.sender_kind === "visitor") markRead();
  }

  function markRead() {
    if (openId === null || !ready || document.visibilityState !== "visible") return;
    const seq = Math.max(0, ...shown.keys());
    const c = conversations.get(openId);
    if (seq > (readSent.get(openId) || 0) || (c && c.unread_count && seq >= c.last_seq)) {
      readSent.set(openId, seq);
      send({ type: "conversation.read", conversation_id: openId, seq });
    }
  }

  // --- Catching up: resume ------------------------------------------------------------------

  function requestResume(ids) {
    ids.forEach((id) => wanted.add(id));
    pump();
  }

  // One `resume` at a time: resume.done carries no id, so one in flight keeps it unambiguous.
  function pump() {
    if (!ready || inFlight || !wanted.size) return;
    const ids = [...wanted].filter((id) => threads.has(id)).slice(0, 200);
    wanted.clear();
    if (!ids.length) return;
    const after = {};
    for (const id of ids) after[id] = threads.get(id).upTo;
    inFlight = ids;
    send({ type: "resume", conversations: after });
  }

  function resumeDone() {
    const ids = inFlight || [];
    inFlight = null;
    for (const id of ids) {
      const t = threads.get(id);
      if (t) t.loaded = true;
    }
    if (ids.includes(openId)) {
      renderLoading();
      scrollDown();
      markRead();
    }
    pump();
  }

  function scheduleGapCheck() {
    if (!gapTimer) gapTimer = setTimeout(checkGaps, GAP_CHECK_MS);
  }

  // A later seq arrived (or the inbox row says there is one) but not the ones before it: a
  // delivery was lost, or is merely late. If it is still missing now, fetch it from the database.
  function checkGaps() {
    gapTimer = null;
    const behind = [];
    for (const [id, t] of threads) {
      if (!t.loaded || (inFlight && inFlight.includes(id))) continue;
      const c = conversations.get(id);
      const last = Math.max(c ? c.last_seq : 0, ...t.messages.keys());
      if (last > t.upTo) behind.push(id);
    }
    if (behind.length) requestResume(behind);
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
    stopTyping();
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

  // --- Typing -------------------------------------------------------------------------------

  // The visitor sees "agent is typing" (no text); other agents see it in the viewers bar.
  // Throttled: announced once, re-announced every TYPING_REFRESH_MS while keys keep coming.
  function agentTyped() {
    // A private note is not for the visitor, and neither is the fact that one is being written.
    if (openId === null || ui.private.checked || !ui.body.value.trim()) { stopTyping(); return; }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
    if (!ready || (typingConv === openId && Date.now() - typingAt < TYPING_REFRESH_MS)) return;
    typingConv = openId;
    typingAt = Date.now();
    send({ type: "typing", conversation_id: openId, active: true });
  }

  function stopTyping() {
    clearTimeout(typingIdle);
    typingIdle = null;
    if (typingConv === null) return;
    send({ type: "typing", conversation_id: typingConv, active: false });
    typingConv = null;
  }

  // The visitor's draft, live: shown as text under the thread, never stored.
  function visitorDraft(id, text) {
    const old = drafts.get(id);
    if (old) clearTimeout(old.timer);
    if (text.trim()) {
      drafts.set(id, { text, timer: setTimeout(() => visitorDraft(id, ""), DRAFT_STALE_MS) });
    } else {
      drafts.delete(id);
    }
    const row = rowOf(id);
    if (row) row.classList.toggle("typing", drafts.has(id));
    if (id === openId) renderDraft();
  }

  function renderDraft() {
    const d = drafts.get(openId);
    const stick = nearBottom();
    ui.typing.hidden = !d;
    ui.draft.textContent = d ? d.text : "";
    if (stick) scrollDown(true);
  }

  // --- Team: presence and who else has a conversation open ----------------------------------

  function renderAgents() {
    const order = { online: 0, away: 1, offline: 2 };
    const list = [...agents.values()].sort(
      (a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name),
    );
    ui.agents.replaceChildren(...list.map((a) => {
      const li = el("li", { class: `agent agent-${a.status}` + (a.user_id === MY_ID ? " me" : "") },
        dot(a.status, PRESENCE[a.status]),
        el("span", { class: "agent-name", text: a.name }),
        el("span", { class: "agent-status", text: PRESENCE[a.status] || a.status }),
      );
      li.dataset.userId = a.user_id;
      li.dataset.status = a.status;
      return li;
    }));
    const me = agents.get(MY_ID);
    if (me) ui.myStatus.value = me.status === "away" ? "away" : "online";
  }

  function viewersChanged(frame) {
    const others = frame.viewers.filter((v) => v.user_id !== MY_ID);
    if (others.length) viewers.set(frame.conversation_id, others);
    else viewers.delete(frame.conversation_id);
    if (conversations.has(frame.conversation_id)) renderList();
    if (frame.conversation_id === openId) renderViewers();
  }

  function renderViewers() {
    const others = viewers.get(openId) || [];
    ui.viewers.hidden = !others.length;
    ui.viewers.replaceChildren(
      el("span", { class: "viewers-label", text: gettext("Also viewing:") }),
      ...others.map((v) => {
        const span = el("span", { class: "viewer" + (v.typing ? " typing" : ""),
          text: v.typing ? fmt(gettext("%s (typing…)"), [v.name]) : v.name });
        span.dataset.userId = v.user_id;
        return span;
      }),
    );
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
    inFlight = null; // its history died with the socket; session.ready asks again
    typingConv = null; // the server clears what the socket announced
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
      case "resume.done": resumeDone(); break;
      case "message.ack": receive(frame.message, false); break;
      case "conversation.updated":
        upsert(frame.conversation);
        renderList();
        if (frame.conversation.id === openId) renderOpenHeader();
        break;
      case "conversation.read":
        if (frame.reader === "visitor" && frame.seq > (visitorRead.get(frame.conversation_id) || 0)) {
          visitorRead.set(frame.conversation_id, frame.seq);
          if (frame.conversation_id === openId) renderTicks();
        }
        break;
      case "typing":
        if (frame.sender_kind === "visitor") visitorDraft(frame.conversation_id, frame.active ? frame.text || "" : "");
        break; // other agents' typing shows through viewers.changed
      case "visitor.updated": visitorUpdated(frame.visitor); break;
      case "presence.changed":
        agents.set(frame.agent.user_id, frame.agent);
        renderAgents();
        break;
      case "viewers.changed": viewersChanged(frame); break;
      case "error":
        if (frame.code === "rate_limited" && outbox.has(frame.ref)) {
          // Nothing was done; the same client_msg_id goes out again when allowed.
          setTimeout(() => transmit(frame.ref), (frame.retry_after || 1) * 1000);
        } else if (frame.ref && outbox.has(frame.ref)) {
          fail(frame.ref, frame.message);
        } else if (frame.code === "rate_limited") {
          // Maybe the resume: ask again later (a second resume.done is harmless).
          const ids = inFlight;
          if (ids) setTimeout(() => { if (inFlight === ids) { inFlight = null; requestResume(ids); } }, (frame.retry_after || 1) * 1000);
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
    agents.clear();
    (frame.agents || []).forEach((a) => agents.set(a.user_id, a));
    renderAgents();
    viewers.clear(); // whoever had what open is told again as it changes
    renderViewers();
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
    // Whatever was delivered while we were away is lost; the database has it.
    inFlight = null;
    requestResume([...threads.keys()]);
    if (openId !== null) send({ type: "conversation.view", conversation_id: openId });
    loadList(); // the inbox rows
    for (const id of outbox.keys()) transmit(id);
    markRead();
    agentTyped(); // still typing a reply: say so on the new socket
  }

  // --- Wiring -------------------------------------------------------------------------------

  ui.list.addEventListener("click", (event) => {
    const button = event.target.closest("button.conv");
    if (button) openConversation(Number(button.dataset.id));
  });
  ui.more.addEventListener("click", () => { if (nextPage) loadList(nextPage); });
  ui.close.addEventListener("click", closeConversation);
  ui.form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  ui.body.addEventListener("input", agentTyped);
  ui.body.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition does not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  ui.private.addEventListener("change", () => {
    ui.form.classList.toggle("note-mode", ui.private.checked);
    agentTyped();
  });
  ui.myStatus.addEventListener("change", () => {
    if (ready) send({ type: "presence.set", status: ui.myStatus.value });
    else renderAgents(); // cannot switch while offline: show what the server last said
  });
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("online", () => {
    if (!ws && reconnectTimer !== -1) { clearTimeout(reconnectTimer); connect(); }
  });

  connect();
  loadList();
  const fromHash = /^#c(\d+)$/.exec(location.hash);
  if (fromHash) openConversation(Number(fromHash[1]));
})();
