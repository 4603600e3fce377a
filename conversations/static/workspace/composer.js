/* The reply box: sending through the socket core's outbox (shown as pending until the stored
   copy comes back), failures with a retry, and the agent's "typing" announcement. */

import { el, randomId } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { send, socket } from "./session.js";
import { DISPLAY_NAME, state, ui } from "./state.js";
import { renderMessage, scrollDown } from "./thread.js";

const TYPING_REFRESH_MS = 2500; // "typing" is re-announced this often (the widget fades it at 6 s)
const TYPING_IDLE_MS = 4000;    // no key pressed for this long: the agent stopped typing

let typingConv = null;          // the conversation this agent is announced as typing in
let typingAt = 0;
let typingIdle = null;

export function submit() {
  const body = ui.body.value.trim();
  if (!body || state.openId === null) return;
  const id = randomId();
  const frame = { type: "message.send", conversation_id: state.openId, client_msg_id: id, body, private: state.note };
  const li = renderMessage({ sender_kind: "agent", sender_name: DISPLAY_NAME, body, private: frame.private });
  li.classList.add("pending");
  li.dataset.clientMsgId = id;
  li.querySelector(".when").textContent = gettext("Sending…");
  ui.messages.append(li);
  ui.body.value = "";
  // A note is the exception: the next message is a reply again unless the agent picks Note.
  if (state.note) setNoteMode(false);
  stopTyping();
  scrollDown(true);
  socket.queue(id, { frame, li, failed: false }); // goes out now if connected
}

// The server refused an outbox entry (the core keeps it, marked failed, for the retry).
export function fail(id, out, message) {
  out.li.classList.remove("pending");
  out.li.classList.add("failed");
  out.li.querySelector(".when").textContent = "";
  const retry = el("button", { type: "button", class: "link retry", text: gettext("Retry") });
  retry.addEventListener("click", () => {
    out.li.classList.replace("failed", "pending");
    out.li.querySelector(".when").textContent = gettext("Sending…");
    out.li.querySelector(".err").remove();
    socket.retry(id); // same client_msg_id: stored at most once
  });
  out.li.append(el("div", { class: "err" }, fmt(gettext("Not sent: %s"), [message]) + " ", retry));
}

// The Reply / Note tabs: a note is written on a yellow, dashed box with its own button label.
export function setNoteMode(on) {
  state.note = on;
  ui.form.classList.toggle("note-mode", on);
  ui.tabReply.setAttribute("aria-selected", String(!on));
  ui.tabNote.setAttribute("aria-selected", String(on));
  ui.noteHint.hidden = !on;
  ui.sendButton.textContent = on ? ui.sendButton.dataset.note : ui.sendButton.dataset.reply;
  agentTyped();
}

export function insertReply(text) {
  const box = ui.body;
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.setRangeText(text, start, end, "end");
  box.focus();
  agentTyped();
}

// The visitor sees "agent is typing" (no text); other agents see it in the viewers bar.
// Throttled: announced once, re-announced every TYPING_REFRESH_MS while keys keep coming.
export function agentTyped() {
  const openId = state.openId;
  // A private note is not for the visitor, and neither is the fact that one is being written.
  if (openId === null || state.note || !ui.body.value.trim()) { stopTyping(); return; }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  if (!socket.ready || (typingConv === openId && Date.now() - typingAt < TYPING_REFRESH_MS)) return;
  typingConv = openId;
  typingAt = Date.now();
  send({ type: "typing", conversation_id: openId, active: true });
}

export function stopTyping() {
  clearTimeout(typingIdle);
  typingIdle = null;
  if (typingConv === null) return;
  send({ type: "typing", conversation_id: typingConv, active: false });
  typingConv = null;
}

// The socket dropped: the server clears what it announced.
export function forgetTyping() {
  typingConv = null;
}
