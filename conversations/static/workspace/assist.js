/* Agent assist: suggested answers for the last visitor message of the open conversation. */

import { api } from "./api.js";
import { insertReply } from "./composer.js";
import { el } from "./dom.js";
import { gettext } from "./i18n.js";
import { API, state, threads, ui } from "./state.js";

const SUGGESTIONS_SHOWN = 3;
const SUGGEST_DELAY_MS = 300;

let suggestFor = null;  // "conversation:seq" the suggestions shown were asked for
let suggestTimer = null;

function lastVisitorSeq() {
  const t = threads.get(state.openId);
  let seq = 0;
  if (t) for (const m of t.messages.values()) if (m.sender_kind === "visitor" && m.seq > seq) seq = m.seq;
  return seq;
}

// Another conversation is shown: its suggestions are asked for afresh.
export function resetSuggestions() {
  suggestFor = null;
}

// A history page brings many visitor messages at once: ask once, for the last of them.
export function scheduleSuggest() {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(suggest, SUGGEST_DELAY_MS);
}

async function suggest() {
  const id = state.openId;
  const seq = lastVisitorSeq();
  if (id === null || !seq || suggestFor === `${id}:${seq}`) return;
  suggestFor = `${id}:${seq}`;
  try {
    const data = await api(`${API}/conversations/${id}/suggestions/`, true);
    if (suggestFor !== `${id}:${seq}` || state.openId !== id) return; // a newer one was asked for
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

export function renderAssist(items) {
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
