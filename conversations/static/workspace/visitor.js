/* The visitor pane (who, where, when last seen) and the visitor's live draft. */

import { onlineDot } from "./dom.js";
import { dateTimeText, gettext, PRESENCE } from "./i18n.js";
import { renderList, rowOf } from "./inbox.js";
import { $, conversations, drafts, state, ui } from "./state.js";
import { nearBottom, renderOpenHeader, scrollDown } from "./thread.js";
import { profileTouched, showProfile } from "./profile.js";

const DRAFT_STALE_MS = 30000; // a visitor's draft without news fades (a lost "stopped")

export function renderVisitor(v) {
  $("v-name").textContent = v.name || "—";
  const known = v.online !== null && v.online !== undefined;
  $("v-online").replaceChildren(...(known ? [onlineDot(v), " ", v.online ? PRESENCE.online : PRESENCE.offline] : [gettext("Checking…")]));
  $("v-email").textContent = v.email || "—";
  $("v-page-title").textContent = v.page_title || "—";
  // Shown as text, not a link: the URL comes from the visitor's browser.
  $("v-page-url").textContent = v.page_url || "—";
  // In monospace the dash read as "–", a different mark from the other empty fields'.
  $("v-page-url").classList.toggle("url", Boolean(v.page_url));
  $("v-seen").textContent = v.last_seen_at ? dateTimeText(v.last_seen_at) : "—";
  showProfile(v.id);
}

// A visitor moved to another page, or came online or went away: update every row of theirs.
export function visitorUpdated(visitor) {
  profileTouched(visitor.id);
  let touched = false;
  for (const c of conversations.values()) {
    if (c.visitor.id !== visitor.id) continue;
    const online = visitor.online === null || visitor.online === undefined ? c.visitor.online : visitor.online;
    c.visitor = Object.assign({}, visitor, { online });
    touched = true;
  }
  if (!touched) return;
  renderList();
  if (state.openId !== null) renderOpenHeader();
}

// The visitor's draft, live: shown as text under the thread, never stored.
export function visitorDraft(id, text) {
  const old = drafts.get(id);
  if (old) clearTimeout(old.timer);
  if (text.trim()) {
    drafts.set(id, { text, timer: setTimeout(() => visitorDraft(id, ""), DRAFT_STALE_MS) });
  } else {
    drafts.delete(id);
  }
  const row = rowOf(id);
  if (row) row.classList.toggle("typing", drafts.has(id));
  if (id === state.openId) renderDraft();
}

export function renderDraft() {
  const d = drafts.get(state.openId);
  const stick = nearBottom();
  ui.typing.hidden = !d;
  ui.draft.textContent = d ? d.text : "";
  if (stick) scrollDown(true);
}
