/* The inbox: one row per conversation, newest activity first, from the REST API and kept
   current by conversation.updated. */

import { api } from "./api.js";
import { el, onlineDot, time, timeText } from "./dom.js";
import { fmt, gettext, ROUTING, STATUS } from "./i18n.js";
import { notify } from "./notifications.js";
import { claimSettled, transferSettled, actionDone } from "./routing.js";
import { scheduleGapCheck, socket } from "./session.js";
import { API, MY_ID, WAIT_ALERT, WAIT_WARN, conversations, drafts, state, threads, ui, viewers, visitorRead } from "./state.js";
import { renderOpenHeader, renderTicks } from "./thread.js";
import { renderTriage } from "./triage.js";
import { compareRows, inView, listUrl, scheduleCounts } from "./views.js";
import { keepLabels, labelChips } from "./labels.js";

let nextPage = null; // the inbox's next page URL, if any
let listSeq = 0;     // a slower answer for a view left meanwhile is dropped

// Live updates numbered in the order they arrived, and the number of each conversation's last.
let liveClock = 0;
const liveAt = new Map();

// The live clock now: what a request for rows passes back to upsert as `askedAt` with them.
export function liveNow() {
  return liveClock;
}

// A conversation's row from the server, taken as a list page's rows are.
export async function fetchRow(id, quiet) {
  const asked = liveClock;
  upsert(await api(`${API}/conversations/${id}/`, quiet), asked);
}

const unknown = (value) => value === null || value === undefined;

// `askedAt`: for a row the server sent on request, the live clock when it was asked for.
export function upsert(conversation, askedAt) {
  const known = conversations.get(conversation.id);
  // A reloaded page can be older than a live update that arrived while it was in flight; and
  // with no later message too: a priority, snooze or assignment moves no last_seq, and a page
  // read before such a change committed put the old value back for good (the update's own
  // frame had come first). The live row stays. Only the labels its frame may not have carried
  // (the message path publishes rows without them) come from the older row: a row first seen
  // live, before the page listing it answered, showed no labels for good.
  const older = known && (known.last_seq > conversation.last_seq
    || (askedAt !== undefined && known.last_seq === conversation.last_seq
      && (liveAt.get(conversation.id) || 0) > askedAt));
  if (older) {
    keepLabels(known, conversation);
    return;
  }
  // Older in read state only (an inbox page read before an agent's read committed, answering
  // after the conversation.updated of that read; both counters only grow): its unread count
  // would bring the badge back, and reading once more changes nothing on the server. The
  // newer read state stays; the row's other fields are taken.
  if (known && known.last_seq === conversation.last_seq
      && (known.agent_last_read_seq || 0) > (conversation.agent_last_read_seq || 0)) {
    conversation.agent_last_read_seq = known.agent_last_read_seq;
    conversation.unread_count = known.unread_count;
  }
  keepLabels(conversation, known);
  const online = conversation.visitor.online;
  if (known && (online === null || online === undefined)) {
    conversation.visitor.online = known.visitor.online; // null: the sender does not know
  }
  conversations.set(conversation.id, conversation);
  // A conversation first seen through a live frame carries no presence and no labels (null:
  // the sender does not know them); the REST row does, so ask for it once.
  if (!known && (unknown(conversation.visitor.online) || unknown(conversation.label_ids))) {
    loadUnknown(conversation.id);
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
  const mine = url ? listSeq : ++listSeq;
  if (!url) scheduleCounts();
  const asked = liveClock;
  try {
    const data = await api(url || listUrl());
    if (mine !== listSeq) return;
    const rows = Array.isArray(data) ? data : data.results;
    if (!url) nextPage = Array.isArray(data) ? null : data.next;
    else nextPage = data.next || null;
    rows.forEach((row) => upsert(row, asked));
    renderList();
    if (state.openId !== null) renderOpenHeader();
  } catch (err) {
    console.error("[kefu] inbox", err);
    if (!socket.stopped) notify(gettext("Could not load the conversations."));
  }
}

const unknownAsked = new Set();

async function loadUnknown(id) {
  if (unknownAsked.has(id)) return;
  unknownAsked.add(id);
  try {
    const row = await api(`${API}/conversations/${id}/`, true);
    const c = conversations.get(id);
    if (!c) return;
    // Only what is still unknown: news that came meanwhile is newer than this row.
    const online = unknown(c.visitor.online), labelled = unknown(c.label_ids);
    if (online) c.visitor.online = row.visitor.online;
    if (labelled) c.label_ids = row.label_ids;
    if (!online && !labelled) return;
    renderList();
    if (id === state.openId) renderOpenHeader();
  } catch (err) {
    // Shown as unknown until visitor.updated, without labels until a page or conversation.labels.
    console.warn("[kefu] presence and labels", err);
  }
}

export function loadMore() {
  if (nextPage) loadList(nextPage);
}

export function renderList() {
  const all = [...conversations.values()];
  const rows = all.filter(inView).sort(compareRows);
  placeRows(rows.map((c) => renderRow(c)));
  const searching = !ui.searchResults.hidden;
  ui.listEmpty.hidden = rows.length > 0 || searching;
  ui.more.hidden = !nextPage || searching;
  ui.mineCount.textContent = String(all.filter((c) => c.assignee_id === MY_ID && (c.status === "open" || c.status === "pending")).length);
  const unread = all.reduce((sum, c) => sum + c.unread_count, 0);
  document.title = (unread ? `(${unread}) ` : "") + document.title.replace(/^\(\d+\) /, "");
}

// The rows, keyed by conversation id: a row already shown keeps its <li>, its <button> and every
// part that did not change, and only rows out of place move. Replacing the list wholesale lost
// clicks: a re-render between the mouse's press and release (the first load, session.ready's
// labels, a live update) detached the pressed node, so the click landed on the list instead.
function placeRows(fresh) {
  const old = new Map([...ui.list.children].map((li) => [li.dataset.id, li]));
  const rows = fresh.map((li) => {
    const kept = old.get(li.dataset.id);
    if (!kept) return li;
    old.delete(li.dataset.id);
    kept.className = li.className;
    morph(kept.firstElementChild, li.firstElementChild);
    return kept;
  });
  for (const gone of old.values()) gone.remove();
  rows.forEach((li, i) => {
    if (ui.list.children[i] !== li) ui.list.insertBefore(li, ui.list.children[i] || null);
  });
}

// `node` made equal to `model` (same tag), keeping the children that already are.
function morph(node, model) {
  if (node.isEqualNode(model)) return;
  for (const { name } of [...node.attributes]) if (!model.hasAttribute(name)) node.removeAttribute(name);
  for (const { name, value } of [...model.attributes]) node.setAttribute(name, value);
  const want = [...model.childNodes];
  want.forEach((child, i) => {
    const have = node.childNodes[i];
    if (have && have.isEqualNode(child)) return;
    if (have && have.nodeType === 1 && child.nodeType === 1 && have.tagName === child.tagName && have.className === child.className) {
      morph(have, child);
    } else if (have) {
      node.replaceChild(child, have);
    } else {
      node.append(child);
    }
  });
  while (node.childNodes.length > want.length) node.lastChild.remove();
}

// How long the visitor has waited for an answer, coloured past the merchant's thresholds.
export function waitChip(c) {
  if (!c.awaiting_reply_since || !(c.status === "open" || c.status === "pending")) return null;
  const seconds = Math.max(0, (Date.now() - time(c.awaiting_reply_since)) / 1000);
  const level = seconds >= WAIT_ALERT ? "alert" : seconds >= WAIT_WARN ? "warn" : "ok";
  const minutes = Math.floor(seconds / 60);
  const text = minutes < 1 ? gettext("<1 min") : minutes < 60 ? fmt(gettext("%s min"), [minutes])
    : fmt(gettext("%s h"), [Math.floor(minutes / 60)]);
  return el("span", { class: `wait wait-${level}`, title: fmt(gettext("Waiting for an answer since %s"), [timeText(c.awaiting_reply_since)]), text });
}

export function priorityMark(c) {
  if (!c.priority) return null;
  const urgent = c.priority >= 20;
  return el("span", { class: "priority-mark" + (urgent ? " urgent" : ""), title: urgent ? gettext("Urgent") : gettext("High priority"), text: urgent ? "!!" : "!" });
}

export function renderRow(c) {
  const badge = c.unread_count ? el("span", { class: "badge", text: String(c.unread_count) }) : null;
  const status = c.status !== "open" ? el("span", { class: "chip", text: STATUS[c.status] || c.status }) : null;
  const waiting = c.bot_active ? el("span", { class: "chip chip-bot", text: gettext("Bot") })
    : c.queued_at && c.assignee_id === null && c.status === "open"
      ? el("span", { class: "chip chip-queued", text: ROUTING.queued }) : null;
  const snoozed = c.snoozed_at ? el("span", { class: "chip chip-snoozed", text: gettext("Snoozed") }) : null;
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
      priorityMark(c),
      el("span", { class: "conv-name", text: c.visitor.name }),
      seen,
      waitChip(c),
      el("time", { class: "conv-time", text: timeText(c.last_message_at || c.created_at) }),
    ),
    el("span", { class: "conv-bottom" },
      el("span", { class: "conv-typing", text: gettext("typing…") }),
      el("span", { class: "conv-preview", text: preview || "" }), left, waiting, snoozed, status, badge,
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
  liveAt.set(c.id, ++liveClock);
  upsert(c);
  actionDone(c.id);
  transferSettled(c);
  claimSettled(c);
  renderList();
  scheduleCounts();
  if (c.id === state.openId) { renderOpenHeader(); renderTriage(); }
}
