/* Keyboard shortcuts, listed in the "?" overlay (#keys-dialog): j / k (or Alt+↓ / Alt+↑, which
   also work in the reply box) move through the shown inbox rows, r focuses the reply box, e
   resolves, s snoozes, / searches, Esc leaves the reply box. Single keys act only when no text
   field has the focus and no dialog is open, so typing never triggers them. */

import { setStatus } from "./routing.js";
import { conversations, state, ui } from "./state.js";
import { openConversation } from "./thread.js";
import { openSnooze } from "./triage.js";

function typingIn(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

// The rows shown (search results when a search is shown, else the view), top to bottom.
function shownIds() {
  const list = ui.searchResults.hidden ? ui.list : ui.searchConvs;
  return [...list.querySelectorAll("button.conv")].map((b) => Number(b.dataset.id));
}

export function step(delta) {
  const ids = shownIds();
  if (!ids.length) return;
  const at = ids.indexOf(state.openId);
  const next = at === -1 ? (delta > 0 ? 0 : ids.length - 1) : Math.min(ids.length - 1, Math.max(0, at + delta));
  if (ids[next] === state.openId) return;
  openConversation(ids[next], { keepFocus: true });
  const row = (ui.searchResults.hidden ? ui.list : ui.searchConvs).querySelector(`button.conv[data-id="${ids[next]}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
}

function resolveOpen() {
  const c = conversations.get(state.openId);
  if (c && (c.status === "open" || c.status === "pending")) setStatus();
}

export function openHelp() {
  if (!ui.keysDialog.open) ui.keysDialog.showModal();
}

function onKeydown(event) {
  if (event.defaultPrevented || event.isComposing || event.keyCode === 229) return;
  if (event.altKey && !event.ctrlKey && !event.metaKey && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    if (document.querySelector("dialog[open]")) return;
    event.preventDefault();
    step(event.key === "ArrowDown" ? 1 : -1);
    return;
  }
  if (event.key === "Escape" && event.target === ui.body && ui.qrPicker.hidden) {
    ui.body.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
  if (document.querySelector("dialog[open]")) return;
  const open = state.openId !== null;
  switch (event.key) {
    case "j": step(1); break;
    case "k": step(-1); break;
    case "r": if (!open) return; ui.body.focus(); break;
    case "e": if (!open) return; resolveOpen(); break;
    case "s": if (!open) return; openSnooze(); break;
    case "/": ui.searchQ.focus(); ui.searchQ.select(); break;
    case "?": openHelp(); break;
    default: return;
  }
  event.preventDefault();
}

export function wireKeys() {
  document.addEventListener("keydown", onKeydown);
  ui.keysOpen.addEventListener("click", openHelp);
  ui.keysClose.addEventListener("click", () => ui.keysDialog.close());
}
