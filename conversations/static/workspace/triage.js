/* Snooze and priority of the open conversation (services.inbox), through the agent socket:
   `conversation.snooze` / `conversation.unsnooze` / `conversation.priority`. Every agent sees
   the result as `conversation.updated` (inbox.js), this page included. */

import { fmt, gettext, LOCALE } from "./i18n.js";
import { notify } from "./notifications.js";
import { send, socket } from "./session.js";
import { conversations, state, ui } from "./state.js";

const ACTIVE = new Set(["open", "pending"]);

function frame(f) {
  if (!socket.ready) { notify(gettext("Not connected. Try again in a moment.")); return false; }
  send(f);
  return true;
}

function untilText(iso) {
  const d = new Date(iso);
  return d.toLocaleString(LOCALE, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

// The header's snooze chip, button and priority select for the open conversation.
export function renderTriage() {
  const c = conversations.get(state.openId);
  const active = Boolean(c && ACTIVE.has(c.status));
  ui.priority.value = String(c ? (c.priority >= 20 ? 20 : c.priority >= 10 ? 10 : 0) : 0);
  ui.priority.disabled = !c;
  ui.priority.classList.toggle("raised", Boolean(c && c.priority));
  const snoozed = Boolean(c && c.snoozed_at);
  ui.snoozed.hidden = !snoozed;
  ui.snoozed.textContent = !snoozed ? ""
    : c.snoozed_until ? fmt(gettext("Snoozed until %s"), [untilText(c.snoozed_until)])
      : gettext("Snoozed until the visitor replies");
  ui.snooze.hidden = !active;
  ui.snooze.textContent = snoozed ? ui.snooze.dataset.wake : ui.snooze.dataset.snooze;
}

export function snoozeOrWake() {
  const c = conversations.get(state.openId);
  if (!c || !ACTIVE.has(c.status)) return;
  if (c.snoozed_at) { frame({ type: "conversation.unsnooze", conversation_id: c.id }); return; }
  openSnooze();
}

export function openSnooze() {
  const c = conversations.get(state.openId);
  if (!c || !ACTIVE.has(c.status) || ui.snoozeDialog.open) return;
  ui.snoozeError.hidden = true;
  ui.snoozeUntil.value = "";
  ui.snoozeDialog.dataset.id = String(c.id);
  ui.snoozeDialog.showModal();
}

// 9:00 on the next day (`days` ahead), or on the next Monday.
function nineOClock(daysAhead, monday) {
  const d = new Date();
  if (monday) d.setDate(d.getDate() + (((8 - d.getDay()) % 7) || 7));
  else d.setDate(d.getDate() + daysAhead);
  d.setHours(9, 0, 0, 0);
  return d;
}

function snoozeUntil(choice) {
  if (choice === "reply") return null;
  if (choice === "1h") return new Date(Date.now() + 3600 * 1000);
  if (choice === "tomorrow") return nineOClock(1, false);
  if (choice === "week") return nineOClock(0, true);
  return undefined;
}

function submitSnooze(until) {
  const id = Number(ui.snoozeDialog.dataset.id);
  if (until !== null && !(until instanceof Date && !Number.isNaN(until.getTime()) && until > new Date())) {
    ui.snoozeError.textContent = gettext("Choose a time in the future.");
    ui.snoozeError.hidden = false;
    return;
  }
  const sent = frame({ type: "conversation.snooze", conversation_id: id, until: until ? until.toISOString() : null });
  if (sent) ui.snoozeDialog.close();
}

export function wireTriage() {
  ui.snooze.addEventListener("click", snoozeOrWake);
  ui.priority.addEventListener("change", () => {
    if (state.openId === null) return;
    if (!frame({ type: "conversation.priority", conversation_id: state.openId, priority: Number(ui.priority.value) })) renderTriage();
  });
  ui.snoozeDialog.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-snooze]");
    if (button) submitSnooze(snoozeUntil(button.dataset.snooze));
  });
  ui.snoozeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitSnooze(ui.snoozeUntil.value ? new Date(ui.snoozeUntil.value) : undefined);
  });
  ui.snoozeCancel.addEventListener("click", () => ui.snoozeDialog.close());
}
