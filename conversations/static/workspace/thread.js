/* The open conversation: its header, its messages (kept once per seq, in seq order, routing
   events placed by time among them), read ticks, and marking it read. */

import { SeqMap, insertOrdered } from "../realtime/socket.js";
import { renderAssist, resetSuggestions, scheduleSuggest } from "./assist.js";
import { stopTyping } from "./composer.js";
import { el, onlineDot, time, timeText } from "./dom.js";
import { attachmentNode } from "./files.js";
import { fmt, gettext, SENTIMENT, STATUS } from "./i18n.js";
import { renderList } from "./inbox.js";
import { dismissToast } from "./notifications.js";
import { loadRoutingEvents, renderEvent, renderRoutingHeader } from "./routing.js";
import { requestResume, scheduleGapCheck, send, socket } from "./session.js";
import { conversations, readSent, shown, state, threads, ui, visitorRead } from "./state.js";
import { renderViewers } from "./team.js";
import { renderTriage } from "./triage.js";
import { marked } from "./views.js";
import { renderDraft, renderVisitor, visitorDraft } from "./visitor.js";
import { closeMenu, renderThreadLabels } from "./labels.js";
import { hideProfile } from "./profile.js";

const THREAD_CACHE = 100; // conversations whose messages stay loaded (resume takes 200)
const TREND_SIZE = 8;     // visitor messages in the header's sentiment trend

function threadOf(id) {
  let t = threads.get(id);
  if (t) {
    threads.delete(id); // re-inserted below: most recently used last
  } else {
    t = { messages: new SeqMap(), events: new Map(), loaded: false };
  }
  threads.set(id, t);
  for (const old of threads.keys()) {
    if (threads.size <= THREAD_CACHE) break;
    if (old !== state.openId && old !== id) threads.delete(old);
  }
  return t;
}

// opts.seq (with opts.ranges): a search hit to scroll to and mark; opts.keepFocus: moved by
// the keyboard, so the reply box does not take the keys.
export function openConversation(id, opts = {}) {
  state.focus = opts.seq ? { id, seq: opts.seq, ranges: opts.ranges || [], done: false } : null;
  if (state.openId === id) { applyFocus(); return; }
  closeMenu();
  stopTyping(); // the announcement belonged to the conversation being left
  state.openId = id;
  dismissToast(id);
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
  for (const out of socket.outbox.values()) if (out.frame.conversation_id === id) ui.messages.append(out.li);
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
  resetSuggestions();
  renderAssist([]);
  scheduleSuggest();
  scrollDown(true);
  applyFocus();
  markRead();
  renderTriage();
  if (opts.keepFocus) {
    if (document.activeElement === ui.body) ui.body.blur();
  } else if (!state.focus) {
    ui.body.focus();
  }
}

// Scroll to the search hit of the open conversation and mark its words, once its message is
// shown (it may arrive later, with the history).
export function applyFocus() {
  const f = state.focus;
  if (!f || f.done || f.id !== state.openId) return;
  const li = shown.get(f.seq);
  if (!li) return;
  f.done = true;
  for (const old of ui.messages.querySelectorAll("li.msg.hit")) old.classList.remove("hit");
  li.classList.add("hit");
  const text = li.querySelector(".text");
  if (text) text.replaceChildren(...marked(text.textContent, f.ranges));
  li.scrollIntoView({ block: "center" });
  const t = threads.get(f.id);
  if (t && t.loaded) f.settled = true;
}

export function closeConversation() {
  if (state.openId === null) return;
  stopTyping();
  state.openId = null;
  history.replaceState(null, "", location.pathname + location.search);
  shown.clear();
  ui.messages.replaceChildren();
  ui.thread.hidden = true;
  ui.threadEmpty.hidden = false;
  ui.visitorEmpty.hidden = false;
  ui.visitorInfo.hidden = true;
  ui.assist.hidden = true;
  closeMenu();
  hideProfile();
  resetSuggestions();
  renderList();
  send({ type: "conversation.view", conversation_id: null });
}

export function renderLoading() {
  const t = threads.get(state.openId);
  ui.loading.hidden = !t || t.loaded;
}

export function renderOpenHeader() {
  const c = conversations.get(state.openId);
  ui.title.textContent = c ? c.visitor.name : `#${state.openId}`;
  ui.status.textContent = c ? STATUS[c.status] || c.status : "";
  // onlineDot is null while presence is unknown: replaceChildren would print it as "null".
  ui.online.replaceChildren(...[c && onlineDot(c.visitor)].filter(Boolean));
  ui.visitorEmpty.hidden = Boolean(c);
  ui.visitorInfo.hidden = !c;
  renderRoutingHeader(c);
  renderTrend();
  renderThreadLabels();
  if (c) renderVisitor(c.visitor);
}

// The sentiment of the last visitor messages as small bars (one per message, height by
// score, colour by label), oldest left; the label of the last one in words.
export function renderTrend() {
  const t = threads.get(state.openId);
  const scored = t ? [...t.messages.values()]
    .filter((m) => m.sender_kind === "visitor" && m.sentiment_label)
    .sort((a, b) => a.seq - b.seq).slice(-TREND_SIZE) : [];
  ui.trend.hidden = !scored.length;
  if (!scored.length) { ui.trend.replaceChildren(); return; }
  const last = scored[scored.length - 1];
  ui.trend.title = gettext("Sentiment of the last visitor messages");
  // A fixed row of TREND_SIZE slots in a framed box with a caption: one lone bar read as a
  // stray "|" glyph beside the title.
  const empty = Array.from({ length: TREND_SIZE - scored.length }, () => el("span", { class: "slot" }));
  ui.trend.replaceChildren(
    el("span", { class: "trend-caption", text: gettext("Mood") }),
    el("span", { class: "trend-bars", "aria-hidden": "true" }, ...empty, ...scored.map((m) => {
      const score = Number(m.sentiment_score) || 0;
      const bar = el("span", { class: `bar bar-${m.sentiment_label}`, title: score.toFixed(2) });
      bar.style.height = `${Math.round(4 + Math.abs(score) * 10)}px`;
      return bar;
    })),
    el("span", { class: `trend-label sentiment-${last.sentiment_label}`,
      text: SENTIMENT[last.sentiment_label] || last.sentiment_label }),
  );
}

// The words of the widget's system lines (widget/strings.py, sys_*), the same msgids.
const SYSTEM_LINES = {
  handover: gettext("The assistant passed your conversation to our team."),
  joined: gettext("%(agent)s joined the conversation."),
  transferred: gettext("Your conversation was transferred to %(agent)s."),
  ended: gettext("The conversation has ended. Write again any time to reopen it."),
};

// A system line of the visitor's thread ("Bob joined", "The conversation has ended"; kind
// "event", conversations/system_lines.py): what the visitor was shown, at its seq, beside the
// routing timeline that says why. Drawn from its code in the agent's language, as the widget
// draws it in the visitor's; the stored body is the visitor's own wording, the hover text when
// the two languages differ (an agent reading English must not meet "小美已加入会话。").
function renderSystemLine(m) {
  const meta = m.meta || {};
  const words = SYSTEM_LINES[meta.system];
  // A function, so "$&" in a name is not a replacement pattern.
  const text = words ? words.replace("%(agent)s", () => String(meta.agent || "")) : m.body || "";
  const line = el("div", { class: "line", text });
  if (m.body && m.body !== text) line.title = m.body;
  // Not a ".msg": nobody wrote it (selectors and counts of messages leave it out).
  const li = el("li", { class: "sysline from-system", role: "note" },
    el("div", { class: "meta" },
      el("span", { class: "seen-label", text: gettext("Shown to the visitor") }),
      el("time", { class: "when", text: timeText(m.created_at) }),
    ),
    line,
  );
  if (m.seq) li.dataset.seq = m.seq;
  if (m.created_at) li.dataset.at = time(m.created_at);
  li.dataset.line = (m.meta && m.meta.system) || "";
  return li;
}

export function renderMessage(m) {
  if (m.kind === "event") return renderSystemLine(m);
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
    m.attachment ? el("div", { class: "att" }, attachmentNode(m.attachment)) : null,
    m.body || !m.attachment ? el("div", { class: "text", text: m.body }) : null,
    choices,
  );
  if (m.seq) li.dataset.seq = m.seq;
  if (m.created_at) li.dataset.at = time(m.created_at);
  if (m.private) li.dataset.private = "1";
  return li;
}

// Read ticks: replies (not notes) up to the highest seq the visitor has read.
function renderTick(li) {
  if (!li.dataset.seq || li.dataset.private || !/from-(agent|bot)/.test(li.className)) return;
  const read = Number(li.dataset.seq) <= (visitorRead.get(state.openId) || 0);
  if (read && !li.querySelector(".tick")) {
    li.querySelector(".meta").append(el("span", { class: "tick", text: "✓ " + gettext("Read") }));
  }
  li.classList.toggle("read", read);
}

export function renderTicks() {
  for (const li of shown.values()) renderTick(li);
}

export function nearBottom() {
  const box = ui.messages;
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

export function scrollDown(force) {
  // Until the thread has loaded, a search hit being shown keeps the view on it.
  const f = state.focus;
  if (f && f.done && !f.settled && f.id === state.openId && shown.has(f.seq)) {
    shown.get(f.seq).scrollIntoView({ block: "center" });
    return;
  }
  if (force || nearBottom()) ui.messages.scrollTop = ui.messages.scrollHeight;
}

// The open conversation's messages are all in (resume.done): a search hit stops holding the
// view, so new messages scroll it down again as usual.
export function threadLoaded() {
  const f = state.focus;
  if (!f || f.id !== state.openId) return;
  applyFocus();
  if (f.done && shown.has(f.seq)) {
    shown.get(f.seq).scrollIntoView({ block: "center" });
    f.settled = true;
  }
}

// Stored messages in seq order, routing events by time among them; unacknowledged messages
// (no seq) stay below everything.
function isLater(node, li) {
  if (!node.dataset.seq && !node.dataset.event) return true; // unacknowledged
  if (node.dataset.seq && li.dataset.seq) return Number(node.dataset.seq) > Number(li.dataset.seq);
  return Number(node.dataset.at || 0) > Number(li.dataset.at || 0);
}

export function place(li) {
  insertOrdered(ui.messages, li, (node) => isLater(node, li));
}

// A stored message (history, message.created or message.ack).
export function receive(m, live) {
  const out = socket.settle(m);
  if (out) out.li.remove();
  if (m.sender_kind === "visitor" && live) visitorDraft(m.conversation_id, ""); // it was sent
  const t = threads.get(m.conversation_id);
  // Not loaded (resume fetches it when opened), or a copy.
  if (!t || !t.messages.add(m.seq, m)) return;
  if (m.seq > t.messages.upTo) scheduleGapCheck();
  if (m.conversation_id !== state.openId) return;
  const stick = nearBottom();
  const li = renderMessage(m);
  shown.set(m.seq, li);
  place(li);
  renderTick(li);
  if (stick || out) scrollDown(true);
  if (state.focus && m.seq === state.focus.seq) applyFocus();
  if (m.sender_kind === "visitor") {
    renderTrend();
    scheduleSuggest();
  }
  if (live && m.sender_kind === "visitor") markRead();
}

export function markRead() {
  if (state.openId === null || !socket.ready || document.visibilityState !== "visible") return;
  const seq = Math.max(0, ...shown.keys());
  const c = conversations.get(state.openId);
  if (seq > (readSent.get(state.openId) || 0) || (c && c.unread_count && seq >= c.last_seq)) {
    readSent.set(state.openId, seq);
    send({ type: "conversation.read", conversation_id: state.openId, seq });
  }
}
