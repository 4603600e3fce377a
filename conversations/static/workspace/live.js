/* "Visitors now" (who is on the site, proactive invitations) and, for owners and admins, the
   supervisor screen (each agent's status and load, the live conversations; watch, whisper,
   join). Both are one overlay over the panes, built here so the page template stays as it was.

   Data: `visitors.live` and `supervisor.snapshot` on the agent socket (answers to this socket
   only), refreshed by the events every agent already gets (visitor.updated,
   conversation.updated, presence.changed, routing.event) while the overlay is open. The
   watched conversation's history comes from the REST API, its new messages from
   message.created. Visitor text (names, pages, messages) only ever goes through textContent. */

import { api } from "./api.js";
import { dot, el, randomId, timeText } from "./dom.js";
import { dateTimeText, fmt, gettext, PRESENCE, STATUS } from "./i18n.js";
import { fetchRow } from "./inbox.js";
import { notify } from "./notifications.js";
import { send, socket } from "./session.js";
import { API, IS_MANAGER, MY_ID, $ } from "./state.js";
import { agentName } from "./team.js";
import { openConversation, renderMessage } from "./thread.js";

const REFRESH_MS = 400;   // events arriving together are answered with one request
const POLL_MS = 30000;    // belt and braces: a lost event is corrected within this
const TICK_MS = 15000;    // "time on site" moves on

const ROLE = { owner: gettext("Owner"), admin: gettext("Admin"), agent: gettext("Agent") };
const INVITE_REFUSED = {
  visitor_blocked: gettext("This visitor is blocked: they cannot be invited."),
  already_assigned: gettext("Another agent is already chatting with this visitor."),
  not_found: gettext("This visitor is no longer here."),
  message_empty: gettext("Write a message first."),
  message_too_long: gettext("The message is too long."),
};

let mode = null;                  // "visitors" | "supervisor" | null (closed)
const visitors = new Map();       // id -> LiveVisitorOut
const stale = new Set();          // visitor ids to refresh with the next request
let refreshTimer = null;
let pollTimer = null;
let tickTimer = null;
let snapshot = null;              // the last supervisor.snapshot
let watching = null;              // {id, seqs: Set} the conversation shown read-only
let invite = null;                // {visitorId, clientMsgId} awaiting its ack
let whisperId = null;             // client_msg_id of the whisper awaiting its ack

const n = {};                     // the overlay's nodes, built once

function build() {
  const bar = document.querySelector(".topbar");
  n.visitorsButton = el("button", { type: "button", class: "link", id: "live-open", text: gettext("Visitors now") });
  bar.insertBefore(n.visitorsButton, $("qr-manage"));
  if (IS_MANAGER) {
    n.superButton = el("button", { type: "button", class: "link", id: "supervisor-open", text: gettext("Supervise") });
    bar.insertBefore(n.superButton, $("qr-manage"));
  }
  n.title = el("h2", { id: "live-title" });
  n.count = el("span", { class: "count", id: "live-count" });
  n.close = el("button", { type: "button", class: "link close", id: "live-close", text: "×", title: gettext("Close"), "aria-label": gettext("Close") });
  n.hint = el("p", { class: "live-hint muted", id: "live-hint" });
  n.body = el("div", { class: "live-body", id: "live-body" });
  n.panel = el("section", { class: "live-panel", id: "live-panel", "aria-labelledby": "live-title", role: "region" },
    el("header", { class: "live-head" }, n.title, n.count, el("span", { class: "spacer" }), n.close),
    n.hint, n.body);
  n.panel.hidden = true;
  document.querySelector(".panes").after(n.panel);

  // The invitation dialog.
  n.inviteWho = el("p", { class: "invite-who", id: "invite-who" });
  n.inviteBody = el("textarea", { id: "invite-body", rows: "4", maxlength: "5000", placeholder: gettext("Hello! Can I help you find something?") });
  n.inviteError = el("p", { class: "field-error", id: "invite-error", role: "alert" });
  n.inviteError.hidden = true;
  n.inviteCancel = el("button", { type: "button", class: "link", id: "invite-cancel", text: gettext("Cancel") });
  n.inviteSend = el("button", { type: "submit", class: "primary", id: "invite-send", text: gettext("Send invitation") });
  n.inviteForm = el("form", { method: "dialog", id: "invite-form" },
    el("h2", { text: gettext("Invite to chat") }), n.inviteWho,
    el("label", { for: "invite-body", text: gettext("Your message (it opens the chat on the visitor's page)") }),
    n.inviteBody, n.inviteError,
    el("div", { class: "dialog-actions" }, n.inviteCancel, n.inviteSend));
  n.invite = el("dialog", { class: "dialog", id: "invite-dialog", "aria-labelledby": "invite-title" }, n.inviteForm);
  n.inviteForm.querySelector("h2").id = "invite-title";
  $("workspace").append(n.invite);
}

export function wireLive() {
  build();
  n.visitorsButton.addEventListener("click", () => show(mode === "visitors" ? null : "visitors"));
  if (n.superButton) n.superButton.addEventListener("click", () => show(mode === "supervisor" ? null : "supervisor"));
  n.close.addEventListener("click", () => show(null));
  n.panel.addEventListener("keydown", (e) => { if (e.key === "Escape" && !e.isComposing) show(null); });
  n.body.addEventListener("click", clicked);
  n.inviteCancel.addEventListener("click", () => { invite = null; n.invite.close(); });
  n.inviteForm.addEventListener("submit", (e) => { e.preventDefault(); sendInvite(); });
  n.inviteBody.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); sendInvite(); }
  });
}

function show(next) {
  mode = next;
  clearInterval(pollTimer);
  clearInterval(tickTimer);
  n.visitorsButton.setAttribute("aria-pressed", String(mode === "visitors"));
  if (n.superButton) n.superButton.setAttribute("aria-pressed", String(mode === "supervisor"));
  n.panel.hidden = mode === null;
  document.querySelector(".panes").hidden = mode !== null;
  watching = null;
  if (mode === null) return;
  n.body.replaceChildren(el("p", { class: "empty", text: gettext("Loading…") }));
  if (mode === "visitors") {
    n.title.textContent = gettext("Visitors on your site now");
    n.hint.textContent = gettext("Invite a visitor to chat: your message opens the chat window on the page they are reading.");
    visitors.clear();
    request();
    tickTimer = setInterval(tickTimes, TICK_MS);
  } else {
    n.title.textContent = gettext("Supervisor");
    n.hint.textContent = gettext("Each agent's status and load, and every live conversation. Watch one without taking it, whisper to the agent (only agents see it), or join it.");
    snapshot = null;
    request();
  }
  pollTimer = setInterval(() => request(), POLL_MS);
  n.close.focus();
}

// After a (re)connect: what was asked on the old socket is answered on none.
export function liveReady() {
  request();
}

// One request for the whole view, or (visitors) for the rows events made stale.
function request(ids) {
  if (!socket.ready || mode === null) return;
  if (mode === "visitors") {
    send(ids ? { type: "visitors.live", visitor_ids: ids } : { type: "visitors.live" });
  }
  else send({ type: "supervisor.snapshot" });
}

function soon(visitorId) {
  if (visitorId !== undefined) stale.add(visitorId);
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (mode === "visitors") {
      const ids = [...stale].slice(0, 200);
      stale.clear();
      if (ids.length) request(ids);
    } else if (mode === "supervisor") {
      request();
    }
  }, REFRESH_MS);
}

// Every frame of the agent socket passes here first; true: it was this module's alone.
export function liveFrame(frame) {
  switch (frame.type) {
    case "visitors.live":
      if (mode === "visitors") visitorsArrived(frame);
      return true;
    case "supervisor.snapshot":
      if (mode === "supervisor") { snapshot = frame; renderSupervisor(); }
      return true;
    case "visitor.updated":
      if (mode === "visitors") {
        if (frame.visitor.online === false) { visitors.delete(frame.visitor.id); renderVisitors(); }
        else soon(frame.visitor.id);
      }
      return false;
    case "conversation.updated":
      if (mode === "visitors" && (visitors.has(frame.conversation.visitor.id))) soon(frame.conversation.visitor.id);
      if (mode === "supervisor") soon();
      return false;
    case "presence.changed":
    case "routing.event":
      if (mode === "supervisor") soon();
      return false;
    case "message.created":
      if (watching && frame.message.conversation_id === watching.id) watchAppend([frame.message]);
      return false;
    case "message.ack":
      if (invite && frame.client_msg_id === invite.clientMsgId) invited(frame.message);
      if (whisperId && frame.client_msg_id === whisperId) {
        whisperId = null;
        if (watching && frame.message.conversation_id === watching.id) watchAppend([frame.message]);
        const box = $("whisper-body");
        if (box) box.value = "";
      }
      return false;
    case "error":
      if (invite && frame.ref === invite.clientMsgId) {
        n.inviteError.textContent = INVITE_REFUSED[frame.code] || frame.message;
        n.inviteError.hidden = false;
        n.inviteSend.disabled = false;
        invite.clientMsgId = null; // a corrected message is a new one
        return true;
      }
      if (whisperId && frame.ref === whisperId) {
        whisperId = null;
        notify(frame.message);
        return true;
      }
      return false;
    default:
      return false;
  }
}

// --- Visitors now ------------------------------------------------------------------------------

function visitorsArrived(frame) {
  if (!frame.partial) visitors.clear(); // the whole list: replace the rows
  for (const id of frame.gone) visitors.delete(id);
  for (const v of frame.visitors) visitors.set(v.id, v);
  renderVisitors();
}

function duration(iso) {
  const minutes = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 1) return gettext("under a minute");
  if (minutes < 60) return fmt(gettext("%s min"), [minutes]);
  return fmt(gettext("%s h %s min"), [Math.floor(minutes / 60), minutes % 60]);
}

// Only the times move on: redrawing the table would take the focus off a button.
function tickTimes() {
  for (const row of n.body.querySelectorAll("tr.lv-row")) {
    const v = visitors.get(Number(row.dataset.visitorId));
    if (v) row.querySelector(".lv-time").textContent = duration(v.visit_started_at);
  }
}

function renderVisitors() {
  if (mode !== "visitors") return;
  const rows = [...visitors.values()].sort((a, b) => Date.parse(a.visit_started_at) - Date.parse(b.visit_started_at));
  n.count.textContent = String(rows.length);
  if (!rows.length) {
    n.body.replaceChildren(el("p", { class: "empty", text: gettext("Nobody is on your site right now.") }));
    return;
  }
  const head = el("tr", {}, ...[
    [gettext("Visitor")], [gettext("Current page")], [gettext("Pages seen"), "lv-pages"],
    [gettext("Time on site")], [gettext("Chat"), "lv-chat"],
  ].map(([t, cls]) => el("th", { scope: "col", class: cls || "", text: t })));
  const body = rows.map((v) => {
    const who = el("td", { class: "lv-who" },
      el("span", { class: "lv-name", text: v.name }),
      el("span", { class: `chip ${v.returning ? "chip-returning" : "chip-new"}`, text: v.returning ? gettext("Returning") : gettext("New") }),
      v.blocked ? el("span", { class: "chip chip-blocked", text: gettext("Blocked") }) : null);
    // Shown as text, never a link: the address comes from the visitor's browser.
    const page = el("td", { class: "lv-page" },
      el("span", { class: "lv-page-title", text: v.page_title || v.page_url || "—" }),
      v.page_title ? el("span", { class: "lv-page-url muted", text: v.page_url }) : null);
    let chat;
    if (v.conversation_id) {
      chat = el("td", { class: "lv-chat" },
        el("span", { class: "lv-chatting", text: v.assignee_id ? fmt(gettext("Chatting with %s"), [agentName(v.assignee_id)]) : gettext("Chatting, unassigned") }),
        el("button", { type: "button", class: "secondary lv-open", "data-conversation": String(v.conversation_id), text: gettext("Open chat") }));
    } else {
      const b = el("button", { type: "button", class: "primary lv-invite", "data-visitor": String(v.id), text: gettext("Invite to chat") });
      if (v.blocked) { b.disabled = true; b.title = INVITE_REFUSED.visitor_blocked; }
      chat = el("td", { class: "lv-chat" }, b);
    }
    const tr = el("tr", { class: "lv-row" }, who, page,
      el("td", { class: "lv-pages num", text: String(v.pages_seen) }),
      el("td", { class: "lv-time", text: duration(v.visit_started_at), title: dateTimeText(v.visit_started_at) }),
      chat);
    tr.dataset.visitorId = v.id;
    return tr;
  });
  n.body.replaceChildren(el("table", { class: "live-table", id: "live-visitors" }, el("thead", {}, head), el("tbody", {}, ...body)));
}

function openInvite(visitorId) {
  const v = visitors.get(visitorId);
  if (!v) return;
  invite = { visitorId, clientMsgId: null };
  n.inviteWho.textContent = fmt(gettext("%s, on “%s”"), [v.name, v.page_title || v.page_url || "—"]);
  n.inviteError.hidden = true;
  n.inviteSend.disabled = false;
  n.invite.showModal();
  n.inviteBody.focus();
}

function sendInvite() {
  if (!invite) return;
  const body = n.inviteBody.value.trim();
  if (!body) {
    n.inviteError.textContent = INVITE_REFUSED.message_empty;
    n.inviteError.hidden = false;
    return;
  }
  if (!socket.ready) {
    n.inviteError.textContent = gettext("Not connected: try again in a moment.");
    n.inviteError.hidden = false;
    return;
  }
  // Kept until the answer: a second click resends the same id, stored at most once.
  invite.clientMsgId = invite.clientMsgId || `inv-${randomId()}`;
  n.inviteSend.disabled = true;
  send({ type: "visitor.invite", visitor_id: invite.visitorId, client_msg_id: invite.clientMsgId, body });
}

async function invited(message) {
  invite = null;
  n.inviteBody.value = "";
  n.invite.close();
  show(null);
  // The row may not be in the inbox yet (conversation.updated can come after the ack).
  try { await fetchRow(message.conversation_id, true); } catch (e) { /* shown when it arrives */ }
  openConversation(message.conversation_id);
}

// --- Supervisor --------------------------------------------------------------------------------

function renderSupervisor() {
  if (mode !== "supervisor" || !snapshot) return;
  const order = { online: 0, away: 1, offline: 2 };
  const agentsSorted = [...snapshot.agents].sort((a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name));
  const agentRows = agentsSorted.map((a) => {
    const full = a.capacity > 0 && a.open_count >= a.capacity;
    const bar = el("span", { class: "load-bar", role: "img", "aria-label": fmt(gettext("%s of %s"), [a.open_count, a.capacity]) },
      el("span", { class: `load-fill${full ? " full" : ""}` }));
    bar.firstChild.style.width = `${Math.min(100, a.capacity ? (100 * a.open_count) / a.capacity : 0)}%`;
    const tr = el("tr", { class: `sv-agent agent-${a.status}` },
      el("td", {}, dot(a.status, PRESENCE[a.status]), " ", el("span", { class: "sv-name", text: a.name }), a.user_id === MY_ID ? el("span", { class: "muted", text: ` (${gettext("you")})` }) : null),
      el("td", { class: "muted", text: ROLE[a.role] || a.role }),
      el("td", { class: "sv-status", text: PRESENCE[a.status] }),
      el("td", { class: "sv-load" }, el("span", { class: "num", text: `${a.open_count} / ${a.capacity}` }), bar));
    tr.dataset.userId = a.user_id;
    return tr;
  });
  const agentsTable = el("table", { class: "live-table", id: "sv-agents" },
    el("thead", {}, el("tr", {}, ...[gettext("Agent"), gettext("Role"), gettext("Status"), gettext("Open / capacity")].map((t) => el("th", { scope: "col", text: t })))),
    el("tbody", {}, ...agentRows));

  const convRows = snapshot.conversations.map((c) => {
    const who = c.assignee_id ? agentName(c.assignee_id) : (c.queued_at ? gettext("Queued") : gettext("Unassigned"));
    const tr = el("tr", { class: "sv-conv" + (watching && watching.id === c.id ? " watching" : "") },
      el("td", {}, el("span", { class: "sv-visitor", text: c.visitor.name }), c.bot_active ? el("span", { class: "chip chip-bot", text: gettext("Bot") }) : null),
      el("td", { text: STATUS[c.status] || c.status }),
      el("td", { class: c.assignee_id ? "" : "muted", text: who }),
      el("td", { class: "sv-preview", text: c.last_message_preview || "" }),
      el("td", { class: "muted", text: timeText(c.last_message_at || c.created_at) }),
      el("td", {}, el("button", { type: "button", class: "secondary sv-watch", "data-conversation": String(c.id), text: gettext("Watch") })));
    tr.dataset.conversationId = c.id;
    return tr;
  });
  const convTable = convRows.length
    ? el("table", { class: "live-table", id: "sv-conversations" },
      el("thead", {}, el("tr", {}, ...[gettext("Visitor"), gettext("Status"), gettext("Agent"), gettext("Last message"), gettext("When"), ""].map((t) => el("th", { scope: "col", text: t })))),
      el("tbody", {}, ...convRows))
    : el("p", { class: "empty", text: gettext("No live conversations.") });
  n.count.textContent = "";
  const left = el("div", { class: "sv-main" },
    el("h3", { text: gettext("Agents") }), agentsTable,
    el("h3", { text: fmt(gettext("Live conversations (%s)"), [snapshot.conversations.length]) }), convTable);
  const keep = n.body.querySelector(".sv-watch-pane");
  n.body.replaceChildren(el("div", { class: "sv-layout" }, left, keep || el("aside", { class: "sv-watch-pane", id: "sv-watch" },
    el("p", { class: "empty", text: gettext("Watch a conversation to follow it live here, without taking it.") }))));
  if (watching) renderWatchHead();
}

async function watch(id) {
  watching = { id, seqs: new Set() };
  const pane = n.body.querySelector(".sv-watch-pane");
  const list = el("ol", { class: "sv-messages", id: "sv-messages" });
  const whisper = el("form", { class: "sv-whisper", id: "sv-whisper" },
    el("label", { for: "whisper-body", text: gettext("Whisper to the agent (only agents see it)") }),
    el("textarea", { id: "whisper-body", rows: "2", maxlength: "5000" }),
    el("div", { class: "dialog-actions" }, el("button", { type: "submit", class: "secondary", id: "whisper-send", text: gettext("Whisper") })));
  const join = el("form", { class: "sv-join", id: "sv-join" },
    el("label", { for: "join-reason", text: gettext("Join: take the conversation over, saying why") }),
    el("input", { id: "join-reason", type: "text", maxlength: "200", required: "", placeholder: gettext("e.g. VIP customer, escalation") }),
    el("button", { type: "submit", class: "primary", id: "join-send", text: gettext("Join") }));
  pane.replaceChildren(el("header", { class: "sv-watch-head", id: "sv-watch-head" }), list, whisper, join);
  renderSupervisor();
  whisper.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = $("whisper-body").value.trim();
    if (!body || !socket.ready) return;
    whisperId = whisperId || `wh-${randomId()}`;
    send({ type: "message.send", conversation_id: id, client_msg_id: whisperId, body, private: true });
  });
  join.addEventListener("submit", (e) => {
    e.preventDefault();
    const reason = $("join-reason").value.trim();
    if (!reason || !socket.ready) return;
    send({ type: "conversation.join", conversation_id: id, reason });
    $("join-reason").value = "";
  });
  let url = `${API}/conversations/${id}/messages/`;
  try {
    for (let pages = 0; url && pages < 10 && watching && watching.id === id; pages++) {
      const data = await api(url, true);
      watchAppend(data.results || []);
      url = data.next;
    }
  } catch (err) {
    list.append(el("li", { class: "empty", text: gettext("Could not load the messages.") }));
  }
}

function renderWatchHead() {
  const head = $("sv-watch-head");
  const c = snapshot && snapshot.conversations.find((x) => x.id === watching.id);
  if (!head) return;
  const open = el("button", { type: "button", class: "link sv-open", "data-conversation": String(watching.id), text: gettext("Open in the inbox") });
  head.replaceChildren(
    el("strong", { text: c ? c.visitor.name : `#${watching.id}` }),
    el("span", { class: "muted", text: c ? ` · ${c.assignee_id ? agentName(c.assignee_id) : gettext("Unassigned")}` : "" }),
    el("span", { class: "chip chip-watch", text: gettext("Watching, read-only") }),
    open);
}

function watchAppend(messages) {
  const list = $("sv-messages");
  if (!list || !watching) return;
  for (const m of messages) {
    if (m.conversation_id !== watching.id || watching.seqs.has(m.seq)) continue;
    watching.seqs.add(m.seq);
    if (m.kind === "event") {
      // A stored system line ("X joined"): drawn as in the thread, not as somebody's message.
      const line = renderMessage(m);
      list.insertBefore(line, [...list.children].find((x) => Number(x.dataset.seq) > m.seq) || null);
      continue;
    }
    const who = m.sender_kind === "visitor" ? gettext("Visitor") : m.sender_name || m.sender_kind;
    const li = el("li", { class: `sv-msg sv-from-${m.sender_kind}${m.private ? " sv-note" : ""}` },
      el("div", { class: "sv-meta" }, el("span", { class: "sv-sender", text: who }), el("span", { text: timeText(m.created_at) }),
        m.private ? el("span", { class: "chip chip-note", text: gettext("Only agents") }) : null),
      el("div", { class: "sv-text", text: m.body || (m.attachment ? m.attachment.name : "") }));
    li.dataset.seq = m.seq;
    // In seq order, whatever order the page and the live frames arrive in.
    const after = [...list.children].find((x) => Number(x.dataset.seq) > m.seq);
    list.insertBefore(li, after || null);
  }
  list.scrollTop = list.scrollHeight;
}

async function openFromOverlay(id) {
  show(null);
  try { await fetchRow(id, true); } catch (e) { /* shown when it arrives */ }
  openConversation(id);
}

function clicked(event) {
  const inviteButton = event.target.closest("button.lv-invite");
  if (inviteButton && !inviteButton.disabled) { openInvite(Number(inviteButton.dataset.visitor)); return; }
  const openButton = event.target.closest("button.lv-open, button.sv-open");
  if (openButton) { openFromOverlay(Number(openButton.dataset.conversation)); return; }
  const watchButton = event.target.closest("button.sv-watch");
  if (watchButton) watch(Number(watchButton.dataset.conversation));
}
