/* Telling the agent: the notice line, the sound, and browser notifications or in-page toasts
   for `notification` frames. */

import { el } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { NARROW } from "./layout.js";
import { MERCHANT, ui } from "./state.js";
import { openConversation } from "./thread.js";

const TOAST_MS = 8000;
const TOASTS_SHOWN = 3; // on a phone one: they sit over the top bar (workspace.css)
const NOTICE_MS = 8000;
const MUTE_KEY = "kefu:notify-mute"; // per browser, not per account: it is about the speakers

let noticeTimer = null;
let audio = null; // AudioContext, created on the first user gesture

export function notify(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, NOTICE_MS);
}

const muted = () => { try { return localStorage.getItem(MUTE_KEY) === "1"; } catch (e) { return false; } };

export function setMuted(on) {
  try { localStorage.setItem(MUTE_KEY, on ? "1" : "0"); } catch (e) { /* private mode */ }
}

// Two short sine tones, made here (no sound file). Browsers only let a page play sound after
// a user gesture, so the context is created on the first click or key press.
export function unlockAudio() {
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

export function renderNotifyControls() {
  ui.mute.checked = muted();
  ui.notifyEnable.hidden = !("Notification" in window) || Notification.permission !== "default";
}

// Toasts are grouped: one per conversation (a newer one replaces it and counts), at most
// TOASTS_SHOWN at once with "N more" for the rest, so a busy minute never builds a tower.
function renderToastGroup() {
  const shown = NARROW.matches ? 1 : TOASTS_SHOWN;
  const items = [...ui.toasts.querySelectorAll(".toast")];
  items.forEach((item, i) => { item.hidden = i < items.length - shown; });
  const hiddenCount = Math.max(0, items.length - shown);
  let more = ui.toasts.querySelector(".toast-more");
  if (!hiddenCount) { if (more) more.remove(); return; }
  if (!more) {
    more = el("button", { type: "button", class: "link toast-more" });
    more.addEventListener("click", () => { ui.toasts.replaceChildren(); });
    ui.toasts.prepend(more);
  }
  const label = fmt(gettext("%s more notifications (dismiss all)"), [hiddenCount]);
  // On a phone the strip has room for "+N" only; the whole sentence is its name.
  more.textContent = NARROW.matches ? `+${hiddenCount}` : label;
  more.title = label;
  more.setAttribute("aria-label", label);
}

// The agent opened the conversation: its toast has done its job.
export function dismissToast(conversationId) {
  const item = ui.toasts.querySelector(`.toast[data-id="${Number(conversationId)}"]`);
  if (item) { item.remove(); renderToastGroup(); }
}

function toast(frame) {
  const old = ui.toasts.querySelector(`.toast[data-id="${Number(frame.conversation_id)}"]`);
  const count = old ? Number(old.dataset.count) + 1 : 1;
  if (old) { clearTimeout(Number(old.dataset.timer)); old.remove(); }
  const item = el("button", { type: "button", class: `toast toast-${frame.reason}` },
    el("strong", { class: "toast-title", text: frame.title }),
    el("span", { class: "toast-body", text: frame.body }),
    count > 1 ? el("span", { class: "toast-count", text: fmt(gettext("%s notifications"), [count]) }) : null,
  );
  item.dataset.id = frame.conversation_id;
  item.dataset.count = count;
  item.addEventListener("click", () => { item.remove(); renderToastGroup(); openConversation(frame.conversation_id); });
  ui.toasts.append(item);
  item.dataset.timer = setTimeout(() => { item.remove(); renderToastGroup(); }, TOAST_MS);
  renderToastGroup();
}

export function notification(frame) {
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
