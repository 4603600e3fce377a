/* Building nodes and formatting times. Visitor and agent text only ever goes through
   textContent (`text`, or a string child), never markup. */

import { LOCALE, PRESENCE } from "./i18n.js";

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child); // strings become text nodes
  return node;
}

export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "a" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const time = (iso) => (iso ? Date.parse(iso) : 0);

export function timeText(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString(LOCALE, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

// A small online/away/offline dot; the word is its title (and read out by screen readers).
export function dot(kind, label) {
  return el("span", { class: `dot dot-${kind}`, title: label, "aria-label": label, role: "img" });
}

export function onlineDot(visitor) {
  if (visitor.online === null || visitor.online === undefined) return null;
  return dot(visitor.online ? "online" : "offline", visitor.online ? PRESENCE.online : PRESENCE.offline);
}
