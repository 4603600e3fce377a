/* The inbox: one row per conversation, newest activity first, from the REST API and kept
   current by conversation.updated. */

import { api } from "./api.js";
import { el, onlineDot, time, timeText } from "./dom.js";
import { fmt, gettext, ROUTING, STATUS } from "./i18n.js";
import { notify } from "./notifications.js";
import { claimSettled, transferSettled, actionDone } from "./routing.js";
import { scheduleGapCheck, socket } from "./session.js";
import { API, MY_ID, conversations, drafts, state, threads, ui, viewers, visitorRead } from "./state.js";
import { renderOpenHeader, renderTicks } from "./thread.js";
import { keepLabels, labelChips } from "./labels.js";

let nextPage = null; // the inbox's next page URL, if any

export function upsert(conversation) {
  const known = conversations.get(conversation.id);
  // A reloaded page can be older than a live update that arrived while it was in flight.
  if (known && known.last_seq > conversation.last_seq) return;
  keepLabels(conversation, known);
  const online = conversation.visitor.online;
  if (known && (online === null || online === undefined)) {
    conversation.visitor.online = known.visitor.online; // null: the sender does not know
  }
  conversations.set(conversation.id, conversation);
  // A conversation first seen through a live frame carries no presence (null: the sender
  // does not know it); the REST row does, so ask for it once.
  if (!known && (conversation.visitor.online === null || conversation.visitor.online === undefined)) {
    loadPresence(conversation.id);
  }
  // Read ticks after a reload: the row says how far the visitor has read.
  if ((conversation.visitor_last_read_seq || 0) > (visitorRead.get(conversation.id) || 0)) {
    visitorRead.set(conversation.id, conversation.visitor_last_read_seq);
    if (conversation.id === state.openId) renderTicks();
  }
  if (threads.has(conversation.id) && conversation.last_seq > threads.get(conversation.id).messages.upTo) {
    scheduleGapCheck();
  }
}

export async function loadList(url) {
  try {
    const data = await api(url || `${API}/conversations/`);
    const rows = Array.isArray(data) ? data : data.results;
    if (!url) nextPage = Array.isArray(data) ? null : data.next;
    else nextPage = data.next || null;
    rows.forEach(upsert);
    renderList();
    if (state.openId !== null) renderOpenHeader();
  } catch (err) {
    console.error("[kefu] inbox", err);
    if (!socket.stopped) notify(gettext("Could not load the conversations."));
  }
}

const presenceAsked = new Set();

async function loadPresence(id) {
  if (presenceAsked.has(id)) return;
  presenceAsked.add(id);
  try {
    const row = await api(`${API}/conversations/${id}/`, true);
    const c = conversations.get(id);
    if (!c || c.visitor.online !== null && c.visitor.online !== undefined) return; // news came first
    c.visitor.online = row.visitor.online;
    renderList();
    if (id === state.openId) renderOpenHeader();
  } catch (err) {
    console.warn("[kefu] presence", err); // shown as unknown until visitor.updated
  }
}

export function loadMore() {
  if (nextPage) loadList(nextPage);
}

export function renderList() {
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
    labelChips(c.label_ids),
  );
  const li = el("li", { class: "conv-row" + (c.id === state.openId ? " active" : "") + (c.unread_count ? " unread" : "") + (drafts.has(c.id) ? " typing" : "") }, button);
  li.dataset.id = c.id;
  return li;
}

export function rowOf(id) {
  return ui.list.querySelector(`li.conv-row[data-id="${Number(id)}"]`);
}

export function conversationUpdated(c) {
  upsert(c);
  actionDone(c.id);
  transferSettled(c);
  claimSettled(c);
  renderList();
  if (c.id === state.openId) renderOpenHeader();
}
