/* The agent workspace: queue, inbox, open conversation (with its routing timeline, bot and
   sentiment cues and suggested answers), reply box, visitor details, team presence, and
   notifications (sound, browser notification or in-page toast).

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
  const TREND_SIZE = 8;           // visitor messages in the header's sentiment trend
  const SUGGESTIONS_SHOWN = 3;
  const SUGGEST_DELAY_MS = 300;
  const TOAST_MS = 8000;
  const MUTE_KEY = "kefu:notify-mute"; // per browser, not per account: it is about the speakers

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
    mineCount: $("mine-count"), queueList: $("queue-list"), queueEmpty: $("queue-empty"), queueCount: $("queue-count"),
    assignee: $("thread-assignee"), bot: $("thread-bot"), handed: $("thread-handed"),
    intent: $("thread-intent"), trend: $("thread-trend"), transfer: $("thread-transfer"),
    resolve: $("thread-resolve"), assist: $("assist"), assistList: $("assist-list"),
    toasts: $("toasts"), mute: $("notify-mute"), notifyEnable: $("notify-enable"),
    dialog: $("transfer-dialog"), transferForm: $("transfer-form"),
    transferTarget: $("transfer-target"), transferAgents: $("transfer-agents"),
    transferTeams: $("transfer-teams"), transferNote: $("transfer-note"),
    transferError: $("transfer-error"), transferCancel: $("transfer-cancel"),
  };

  const STATUS = {
    open: gettext("Open"), pending: gettext("Pending"), resolved: gettext("Resolved"), closed: gettext("Closed"),
  };
  const PRESENCE = { online: gettext("Online"), away: gettext("Away"), offline: gettext("Offline") };
  const SENTIMENT = {
    positive: gettext("Positive"), neutral: gettext("Neutral"), negative: gettext("Negative"),
  };
  // Routing event kinds (conversations.models.RoutingEvent.Kind); the reason sentence comes
  // from the server, already in the merchant's language.
  const ROUTING = {
    assigned: gettext("Assigned"), queued: gettext("Queued"), claimed: gettext("Claimed"),
    transferred: gettext("Transferred"), reassigned: gettext("Reassigned"),
    timeout: gettext("Acceptance timeout"), resolved: gettext("Resolved"),
    reopened: gettext("Reopened"), handover: gettext("Handed over by the bot"),
    offline: gettext("Left a message"),
  };
  // Refusals of the routing actions, said plainly (the server's message is for developers).
  const REFUSED = {
    already_assigned: gettext("Another agent already took this conversation."),
    forbidden: gettext("You are not allowed to do that with this conversation."),
    agent_unavailable: gettext("That agent or team cannot take the conversation right now."),
    not_found: gettext("This conversation no longer exists."),
  };

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
  let queue = [];                  // QueueEntryOut, serving order
  let queueTotal = 0;
  const teams = new Map();         // team id -> TeamOut
  // Routing actions (claim, transfer, status) whose answer is pending: their `error` frames
  // carry no `ref`, so a refusal is matched to the oldest action still waiting.
  const actions = [];
  const claiming = new Set();      // conversation ids claimed from this page: opened when won
  let suggestFor = null;           // "conversation:seq" the suggestions shown were asked for
  let suggestTimer = null;
  let audio = null;                // AudioContext, created on the first user gesture

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

  // `optional`: a refusal only means this extra (suggestions, timeline) is not available.
  async function api(url, optional) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Kefu-Merchant": String(MERCHANT) },
    });
    if (!optional && (response.status === 401 || response.status === 403)) {
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
    // Read ticks after a reload: the row says how far the visitor has read.
    if ((conversation.visitor_last_read_seq || 0) > (visitorRead.get(conversation.id) || 0)) {
      visitorRead.set(conversation.id, conversation.visitor_last_read_seq);
      if (conversation.id === openId) renderTicks();
    }
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
    ui.mineCount.textContent = String(rows.filter((c) => c.assignee_id === MY_ID && (c.status === "open" || c.status === "pending")).length);
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
    const waiting = c.bot_active ? el("span", { class: "chip chip-bot", text: gettext("Bot") })
      : c.queued_at && c.assignee_id === null && c.status === "open"
        ? el("span", { class: "chip chip-queued", text: ROUTING.queued }) : null;
    const left = c.source === "offline_form" ? el("span", { class: "chip chip-offline", text: ROUTING.offline }) : null;
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
        el("span", { class: "conv-preview", text: preview || "" }), left, waiting, status, badge,
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
      t = { messages: new Map(), events: new Map(), upTo: 0, loaded: false };
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
    for (const e of t.events.values()) place(renderEvent(e));
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
    loadRoutingEvents(id);
    suggestFor = null;
    renderAssist([]);
    scheduleSuggest();
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
    ui.assist.hidden = true;
    suggestFor = null;
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
    renderRoutingHeader(c);
    renderTrend();
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

  function agentName(userId) {
    const a = agents.get(userId);
    return a ? a.name : `#${userId}`;
  }

  function renderRoutingHeader(c) {
    ui.assignee.textContent = !c ? ""
      : c.assignee_id === null ? gettext("Unassigned")
        : c.assignee_id === MY_ID ? gettext("Assigned to you")
          : fmt(gettext("Assigned to %s"), [agentName(c.assignee_id)]);
    ui.bot.hidden = !(c && c.bot_active);
    ui.intent.hidden = !(c && c.intent);
    ui.intent.textContent = c && c.intent ? fmt(gettext("Intent: %s"), [c.intent]) : "";
    const t = threads.get(openId);
    ui.handed.hidden = !(t && [...t.events.values()].some((e) => e.kind === "handover"));
    const finished = c && (c.status === "resolved" || c.status === "closed");
    ui.resolve.textContent = finished ? gettext("Reopen") : gettext("Resolve");
    ui.resolve.dataset.next = finished ? "open" : "resolved";
    ui.resolve.disabled = !c || c.status === "closed";
    ui.transfer.disabled = !c || finished;
  }

  // The sentiment of the last visitor messages as small bars (one per message, height by
  // score, colour by label), oldest left; the label of the last one in words.
  function renderTrend() {
    const t = threads.get(openId);
    const scored = t ? [...t.messages.values()]
      .filter((m) => m.sender_kind === "visitor" && m.sentiment_label)
      .sort((a, b) => a.seq - b.seq).slice(-TREND_SIZE) : [];
    ui.trend.hidden = !scored.length;
    if (!scored.length) { ui.trend.replaceChildren(); return; }
    const last = scored[scored.length - 1];
    ui.trend.title = gettext("Sentiment of the last visitor messages");
    ui.trend.replaceChildren(
      el("span", { class: "trend-bars", "aria-hidden": "true" }, ...scored.map((m) => {
        const score = Number(m.sentiment_score) || 0;
        const bar = el("span", { class: `bar bar-${m.sentiment_label}`, title: score.toFixed(2) });
        bar.style.height = `${Math.round(4 + Math.abs(score) * 12)}px`;
        return bar;
      })),
      el("span", { class: `trend-label sentiment-${last.sentiment_label}`,
        text: SENTIMENT[last.sentiment_label] || last.sentiment_label }),
    );
  }

  function renderMessage(m) {
    const meta = m.meta || {};
    const bot = m.sender_kind === "bot";
    const confidence = bot && typeof meta.confidence === "number"
      ? el("span", { class: "confidence", text: fmt(gettext("confidence %s"), [`${Math.round(meta.confidence * 100)}%`]) })
      : null;
    const sentiment = m.sender_kind === "visitor" && m.sentiment_label
      ? el("span", { class: `sentiment sentiment-${m.sentiment_label}`,
        title: typeof m.sentiment_score === "number" ? m.sentiment_score.toFixed(2) : "",
        text: SENTIMENT[m.sentiment_label] || m.sentiment_label })
      : null;
    const choices = bot && Array.isArray(meta.choices) && meta.choices.length
      ? el("div", { class: "choices" }, ...meta.choices.map((c) => el("span", { class: "choice", text: String(c && c.label || "") })))
      : null;
    const li = el("li", { class: `msg from-${m.sender_kind}` + (m.private ? " note" : "") },
      el("div", { class: "meta" },
        bot ? el("span", { class: "bot-label", text: gettext("Bot") }) : null,
        el("span", { class: "sender", text: m.sender_name || "" }),
        m.private ? el("span", { class: "note-label", text: gettext("Private note") }) : null,
        bot && meta.intent ? el("span", { class: "intent", text: String(meta.intent) }) : null,
        confidence, sentiment,
        el("time", { class: "when", text: timeText(m.created_at) }),
      ),
      el("div", { class: "text", text: m.body }),
      choices,
    );
    if (m.seq) li.dataset.seq = m.seq;
    if (m.created_at) li.dataset.at = time(m.created_at);
    if (m.private) li.dataset.private = "1";
    return li;
  }

  // --- Routing timeline ---------------------------------------------------------------------

  function renderEvent(e) {
    const parts = [ROUTING[e.kind] || e.kind];
    if (e.from_user_id && e.to_user_id) parts.push(`${agentName(e.from_user_id)} → ${agentName(e.to_user_id)}`);
    else if (e.to_user_id) parts.push(`→ ${agentName(e.to_user_id)}`);
    if (e.team_id && teams.has(e.team_id)) parts.push(fmt(gettext("team %s"), [teams.get(e.team_id).name]));
    const li = el("li", { class: `routing-event routing-${e.kind}` },
      el("span", { class: "routing-kind", text: parts.join(" · ") }),
      e.reason ? el("span", { class: "routing-reason", text: e.reason }) : null,
      el("time", { class: "when", text: timeText(e.created_at) }),
    );
    li.dataset.event = e.id;
    li.dataset.at = time(e.created_at);
    return li;
  }

  // Names in the timeline come from the agent list: redraw once it is (re)loaded.
  function redrawEvents() {
    const t = threads.get(openId);
    if (!t) return;
    for (const li of ui.messages.querySelectorAll("li[data-event]")) {
      const e = t.events.get(Number(li.dataset.event));
      if (e) li.replaceWith(renderEvent(e));
    }
  }

  // Remember a routing event of a loaded conversation; show it if that one is open.
  function routingEvent(e) {
    const t = threads.get(e.conversation_id);
    if (!t || t.events.has(e.id)) return;
    t.events.set(e.id, e);
    if (e.conversation_id !== openId) return;
    const stick = nearBottom();
    place(renderEvent(e));
    if (stick) scrollDown(true);
    renderRoutingHeader(conversations.get(openId));
  }

  async function loadRoutingEvents(id) {
    try {
      let url = `${API}/conversations/${id}/routing-events/`;
      while (url) {
        const data = await api(url, true);
        (Array.isArray(data) ? data : data.results || []).forEach(routingEvent);
        url = Array.isArray(data) ? null : data.next;
      }
    } catch (err) {
      console.warn("[kefu] routing events", err); // the timeline just lacks them
    }
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

  // Stored messages in seq order, routing events by time among them; unacknowledged messages
  // (no seq) stay below everything.
  function isLater(node, li) {
    if (!node.dataset.seq && !node.dataset.event) return true; // unacknowledged
    if (node.dataset.seq && li.dataset.seq) return Number(node.dataset.seq) > Number(li.dataset.seq);
    return Number(node.dataset.at || 0) > Number(li.dataset.at || 0);
  }

  function place(li) {
    let before = null;
    for (let node = ui.messages.lastElementChild; node; node = node.previousElementSibling) {
      if (node !== li && !isLater(node, li)) break;
      if (node !== li) before = node;
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
    place(li);
    renderTick(li);
    if (stick || out) scrollDown(true);
    if (m.sender_kind === "visitor") {
      renderTrend();
      scheduleSuggest();
    }
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

  // --- Queue and routing actions -----------------------------------------------------------

  function waitText(iso) {
    const minutes = Math.max(0, Math.floor((Date.now() - time(iso)) / 60000));
    return minutes < 1 ? gettext("just now") : fmt(gettext("%s min"), [minutes]);
  }

  function queueChanged(entries, total) {
    queue = entries;
    queueTotal = total;
    renderQueue();
  }

  async function loadQueue() {
    try {
      const data = await api(`${API}/queue/`, true);
      const entries = Array.isArray(data) ? data : data.queue || data.results || [];
      queueChanged(entries, Array.isArray(data) ? entries.length : data.total ?? data.count ?? entries.length);
    } catch (err) {
      console.warn("[kefu] queue", err); // queue.changed fills it on the next change
    }
  }

  function renderQueue() {
    ui.queueCount.textContent = String(queueTotal);
    ui.queueEmpty.hidden = queue.length > 0;
    ui.queueList.replaceChildren(...queue.map((q) => {
      const team = q.team_id && teams.has(q.team_id) ? teams.get(q.team_id).name : "";
      const button = el("button", { type: "button", class: "claim", text: gettext("Claim") });
      button.dataset.id = q.conversation_id;
      button.disabled = claiming.has(q.conversation_id);
      const li = el("li", { class: "queue-entry" + (q.priority > 0 ? " priority" : "") },
        el("span", { class: "queue-pos", text: String(q.position) }),
        el("span", { class: "queue-who" },
          el("span", { class: "queue-name", text: q.visitor_name }),
          el("span", { class: "queue-meta" },
            q.priority > 0 ? el("span", { class: "priority-mark", title: gettext("High priority"), text: "!" }) : null,
            el("span", { class: "queue-wait", title: new Date(q.queued_at).toLocaleString(), text: waitText(q.queued_at) }),
            team ? el("span", { class: "queue-team", text: team }) : null,
          ),
        ),
        button,
      );
      li.dataset.id = q.conversation_id;
      return li;
    }));
  }

  function action(kind, frame) {
    if (!ready) { notify(gettext("Not connected. Try again in a moment.")); return false; }
    actions.push({ kind, id: frame.conversation_id, at: Date.now() });
    send(frame);
    return true;
  }

  function actionDone(conversationId) {
    for (let i = actions.length - 1; i >= 0; i--) if (actions[i].id === conversationId) actions.splice(i, 1);
  }

  // An `error` without `ref`: the refusal of the oldest routing action still waiting, if any.
  function actionRefused(frame) {
    while (actions.length && Date.now() - actions[0].at > 15000) actions.shift();
    const act = actions.shift();
    if (!act) return false;
    const text = REFUSED[frame.code] || frame.message;
    if (act.kind === "claim") {
      claiming.delete(act.id);
      renderQueue();
      const row = ui.queueList.querySelector(`li[data-id="${Number(act.id)}"]`);
      if (row) row.append(el("span", { class: "queue-error", role: "alert", text }));
    }
    if (act.kind === "transfer" && ui.dialog.open) {
      ui.transferError.textContent = text;
      ui.transferError.hidden = false;
    }
    notify(text);
    return true;
  }

  function claim(id) {
    claiming.add(id);
    if (!action("claim", { type: "conversation.claim", conversation_id: id })) claiming.delete(id);
    renderQueue();
  }

  function openTransfer() {
    const c = conversations.get(openId);
    if (!c) return;
    const order = { online: 0, away: 1, offline: 2 };
    const others = [...agents.values()].filter((a) => a.user_id !== c.assignee_id)
      .sort((a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name));
    ui.transferAgents.replaceChildren(...others.map((a) =>
      el("option", { value: `u:${a.user_id}`, text: `${a.name} — ${PRESENCE[a.status] || a.status}` })));
    ui.transferTeams.replaceChildren(...[...teams.values()].map((t) =>
      el("option", { value: `t:${t.id}`, text: t.name })));
    ui.transferAgents.hidden = !others.length;
    ui.transferTeams.hidden = !teams.size;
    ui.transferNote.value = "";
    const nobody = !others.length && !teams.size;
    ui.transferError.textContent = nobody ? gettext("There is no other agent or team to transfer to.") : "";
    ui.transferError.hidden = !nobody;
    $("transfer-submit").disabled = nobody;
    ui.dialog.dataset.conversation = openId;
    ui.dialog.showModal();
  }

  function submitTransfer() {
    const [kind, raw] = ui.transferTarget.value.split(":");
    const id = Number(ui.dialog.dataset.conversation);
    if (!raw) return;
    const frame = { type: "conversation.transfer", conversation_id: id, note: ui.transferNote.value.trim() };
    if (kind === "u") frame.to_user_id = Number(raw);
    else frame.to_team_id = Number(raw);
    ui.transferError.hidden = true;
    if (action("transfer", frame)) ui.dialog.dataset.pending = ui.transferTarget.value;
  }

  // The dialog closes once the server shows the transfer happened (or stays open with the error).
  function transferSettled(c) {
    const want = ui.dialog.dataset.pending;
    if (!ui.dialog.open || !want || Number(ui.dialog.dataset.conversation) !== c.id) return;
    const [kind, raw] = want.split(":");
    if (Number(raw) === (kind === "u" ? c.assignee_id : c.team_id)) {
      delete ui.dialog.dataset.pending;
      ui.dialog.close();
    }
  }

  function setStatus() {
    if (openId === null) return;
    action("status", { type: "conversation.status", conversation_id: openId, status: ui.resolve.dataset.next });
  }

  // --- Notifications ------------------------------------------------------------------------

  const muted = () => { try { return localStorage.getItem(MUTE_KEY) === "1"; } catch (e) { return false; } };

  // Two short sine tones, made here (no sound file). Browsers only let a page play sound after
  // a user gesture, so the context is created on the first click or key press.
  function unlockAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) audio = new Ctx();
    if (audio && audio.state === "suspended") audio.resume();
  }

  function beep() {
    if (!audio || muted()) return;
    const start = audio.currentTime;
    [880, 660].forEach((hz, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, start + i * 0.16);
      gain.gain.exponentialRampToValueAtTime(0.2, start + i * 0.16 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.16 + 0.15);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + i * 0.16);
      osc.stop(start + i * 0.16 + 0.16);
    });
  }

  function renderNotifyControls() {
    ui.mute.checked = muted();
    ui.notifyEnable.hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  function toast(frame) {
    const item = el("button", { type: "button", class: `toast toast-${frame.reason}` },
      el("strong", { class: "toast-title", text: frame.title }),
      el("span", { class: "toast-body", text: frame.body }),
    );
    item.dataset.id = frame.conversation_id;
    item.addEventListener("click", () => { item.remove(); openConversation(frame.conversation_id); });
    ui.toasts.append(item);
    setTimeout(() => item.remove(), TOAST_MS);
  }

  function notification(frame) {
    beep();
    const useSystem = "Notification" in window && Notification.permission === "granted"
      && document.visibilityState !== "visible";
    if (!useSystem) { toast(frame); return; }
    try {
      // `tag` replaces an older notification about the same conversation instead of stacking.
      const n = new Notification(frame.title, { body: frame.body, tag: `kefu-${MERCHANT}-${frame.conversation_id}` });
      n.onclick = () => { window.focus(); openConversation(frame.conversation_id); n.close(); };
    } catch (e) {
      toast(frame); // some platforms only allow notifications from a service worker
    }
  }

  // --- Agent assist: suggested answers for the last visitor message -------------------------

  function lastVisitorSeq() {
    const t = threads.get(openId);
    let seq = 0;
    if (t) for (const m of t.messages.values()) if (m.sender_kind === "visitor" && m.seq > seq) seq = m.seq;
    return seq;
  }

  // A history page brings many visitor messages at once: ask once, for the last of them.
  function scheduleSuggest() {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, SUGGEST_DELAY_MS);
  }

  async function suggest() {
    const id = openId;
    const seq = lastVisitorSeq();
    if (id === null || !seq || suggestFor === `${id}:${seq}`) return;
    suggestFor = `${id}:${seq}`;
    try {
      const data = await api(`${API}/conversations/${id}/suggestions/`, true);
      if (suggestFor !== `${id}:${seq}` || openId !== id) return; // a newer one was asked for
      renderAssist((Array.isArray(data) ? data : data.results || []).slice(0, SUGGESTIONS_SHOWN));
    } catch (err) {
      console.warn("[kefu] suggestions", err);
      if (suggestFor === `${id}:${seq}`) renderAssist([]);
    }
  }

  // FAQ answers may be rich text: the composer takes plain text (`answer_text`; else an inert
  // document - DOMParser runs no scripts and loads nothing - turns the markup into its text).
  function plainText(answer) {
    return new DOMParser().parseFromString(String(answer || ""), "text/html").body.textContent.trim();
  }

  function renderAssist(items) {
    ui.assist.hidden = !items.length;
    ui.assistList.replaceChildren(...items.map((s) => {
      const answer = typeof s.answer_text === "string" ? s.answer_text.trim() : plainText(s.answer);
      const button = el("button", { type: "button", class: "suggestion", title: gettext("Insert into the reply") },
        el("span", { class: "suggestion-q", text: s.question }),
        el("span", { class: "suggestion-a", text: answer }),
        typeof s.confidence === "number"
          ? el("span", { class: "suggestion-c", text: `${Math.round(s.confidence * 100)}%` }) : null,
      );
      button.addEventListener("click", () => insertReply(answer));
      const li = el("li", {}, button);
      li.dataset.faq = s.faq_id;
      return li;
    }));
  }

  function insertReply(text) {
    const box = ui.body;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.setRangeText(text, start, end, "end");
    box.focus();
    agentTyped();
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
      case "conversation.updated": conversationUpdated(frame.conversation); break;
      case "queue.changed": queueChanged(frame.queue, frame.total); break;
      case "routing.event": routingEvent(frame.event); break;
      case "notification": notification(frame); break;
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
        } else if (!frame.ref && frame.code !== "rate_limited" && actionRefused(frame)) {
          // shown where the action was started
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

  function conversationUpdated(c) {
    upsert(c);
    actionDone(c.id);
    transferSettled(c);
    // A claim from this page settled: if it won, the conversation is ours, open it.
    if (claiming.has(c.id) && c.assignee_id !== null) {
      claiming.delete(c.id);
      renderQueue();
      if (c.assignee_id === MY_ID) openConversation(c.id);
    }
    renderList();
    if (c.id === openId) renderOpenHeader();
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
    teams.clear();
    (frame.teams || []).forEach((t) => teams.set(t.id, t));
    redrawEvents();
    if (openId !== null) renderOpenHeader();
    actions.length = 0; // answers to a dead socket's actions will not come
    loadQueue();
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
  ui.queueList.addEventListener("click", (event) => {
    const button = event.target.closest("button.claim");
    if (button) { if (!button.disabled) claim(Number(button.dataset.id)); return; }
    // The rest of the entry opens the conversation, to read it before claiming.
    const entry = event.target.closest("li.queue-entry");
    if (entry) openConversation(Number(entry.dataset.id));
  });
  ui.transfer.addEventListener("click", openTransfer);
  ui.resolve.addEventListener("click", setStatus);
  ui.transferForm.addEventListener("submit", (event) => { event.preventDefault(); submitTransfer(); });
  ui.transferCancel.addEventListener("click", () => { delete ui.dialog.dataset.pending; ui.dialog.close(); });
  ui.mute.addEventListener("change", () => {
    try { localStorage.setItem(MUTE_KEY, ui.mute.checked ? "1" : "0"); } catch (e) { /* private mode */ }
  });
  ui.notifyEnable.addEventListener("click", async () => {
    // Browsers only ask for permission from a user gesture: this click.
    try { await Notification.requestPermission(); } catch (e) { /* old callback-only API */ }
    renderNotifyControls();
  });
  document.addEventListener("pointerdown", unlockAudio, { capture: true });
  document.addEventListener("keydown", unlockAudio, { capture: true });
  setInterval(renderQueue, 30000); // the waiting times move on
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

  renderNotifyControls();
  connect();
  loadList();
  const fromHash = /^#c(\d+)$/.exec(location.hash);
  if (fromHash) openConversation(Number(fromHash[1]));
})();
