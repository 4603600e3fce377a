/* Labels (issue 13): the merchant's catalogue (session.ready, then labels.changed), chips in the
   inbox rows and the thread header, the header's picker to add and remove them (every agent may),
   and conversation.labels from other agents. Owners and admins manage the catalogue in the back
   office or here (labeladmin.js). The inbox views take their per-label views from labelViews(). */

import { apiWrite } from "./api.js";
import { el } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { renderList } from "./inbox.js";
import { notify } from "./notifications.js";
import { renderProfileLabels } from "./profile.js";
import { API, conversations, state } from "./state.js";
import { renderLabelViews, scheduleCounts } from "./views.js";
import { renderLabelAdmin } from "./labeladmin.js";

export const labels = new Map(); // id -> LabelOut, by name
let menuFor = null;              // the conversation the open picker changes

export function setLabels(list) {
  labels.clear();
  (list || []).forEach((l) => labels.set(l.id, l)); // by name, as the server orders them
  renderList();
  renderThreadLabels();
  renderProfileLabels();
  renderLabelViews();
  renderLabelAdmin();
  redrawMenu();
}

// The open picker lists the catalogue as it is now (a label renamed or deleted meanwhile).
function redrawMenu() {
  const menu = document.getElementById("label-menu");
  const anchor = document.querySelector("#thread-labels .label-add");
  if (!menu || menu.hidden || menuFor === null || !anchor) return;
  const id = menuFor;
  menuFor = null; // toggleMenu opens it again rather than closing it
  toggleMenu(id, anchor);
}

// For the inbox views: one view per label, filtering the conversation list API by `label`.
export function labelViews() {
  return [...labels.values()].map((l) => ({ id: `label-${l.id}`, name: l.name, colour: l.colour, params: { label: l.id } }));
}

// Dark text on light colours, white on dark: the chip stays readable whatever colour was chosen.
function ink(colour) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour || "");
  if (!m) return "#fff";
  const [r, g, b] = m.slice(1).map((h) => parseInt(h, 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 160 ? "#1f2328" : "#fff";
}

export function chip(label, extra) {
  const node = el("span", { class: "label-chip", title: label.name, "data-label": String(label.id) }, label.name, extra);
  node.style.background = label.colour;
  node.style.color = ink(label.colour);
  return node;
}

// The chips of a conversation row (unknown ids, e.g. a label deleted meanwhile, are skipped).
export function labelChips(ids) {
  const known = (ids || []).map((id) => labels.get(id)).filter(Boolean);
  if (!known.length) return null;
  return el("span", { class: "conv-labels" }, ...known.map((l) => chip(l)));
}

// The open conversation's labels in the thread header, each removable, and "+ Label".
export function renderThreadLabels() {
  const box = document.getElementById("thread-labels");
  if (!box) return;
  const c = conversations.get(state.openId);
  if (!c) { box.replaceChildren(); return; }
  const chips = (c.label_ids || []).map((id) => labels.get(id)).filter(Boolean).map((l) => {
    const remove = el("button", { type: "button", class: "label-remove", title: fmt(gettext("Remove label %s"), [l.name]),
      "aria-label": fmt(gettext("Remove label %s"), [l.name]), text: "×" });
    remove.addEventListener("click", () => change(c.id, [], [l.id]));
    return chip(l, remove);
  });
  const add = el("button", { type: "button", class: "label-add", "aria-haspopup": "true", text: "+ " + gettext("Label") });
  add.addEventListener("click", (event) => { event.stopPropagation(); toggleMenu(c.id, add); });
  box.replaceChildren(...chips, add);
}

function toggleMenu(id, anchor) {
  const menu = document.getElementById("label-menu");
  if (!menu.hidden && menuFor === id) { closeMenu(); return; }
  menuFor = id;
  const c = conversations.get(id);
  const on = new Set((c && c.label_ids) || []);
  const items = [...labels.values()].map((l) => {
    const box = el("input", { type: "checkbox" });
    box.checked = on.has(l.id);
    box.addEventListener("change", () => change(id, box.checked ? [l.id] : [], box.checked ? [] : [l.id]));
    const swatch = el("span", { class: "label-swatch" });
    swatch.style.background = l.colour;
    return el("li", {}, el("label", {}, box, swatch, l.name));
  });
  menu.replaceChildren(items.length ? el("ul", {}, ...items)
    : el("p", { class: "empty", text: gettext("No labels yet. Owners and admins add them with “Manage labels” above the inbox.") }));
  const box = anchor.getBoundingClientRect();
  menu.style.top = `${box.bottom + 4}px`;
  menu.style.left = `${Math.max(8, Math.min(box.left, window.innerWidth - 240))}px`;
  menu.hidden = false;
}

export function closeMenu() {
  const menu = document.getElementById("label-menu");
  if (menu) menu.hidden = true;
  menuFor = null;
}

async function change(id, add, remove) {
  const { ok, data } = await apiWrite("POST", `${API}/conversations/${id}/labels/`, { add, remove });
  if (!ok) {
    // unknown_label: deleted by an admin meanwhile (labels.changed redraws the picker). The
    // server's sentence is English only; say it in the page's language.
    notify(data && data.code === "unknown_label" ? gettext("That label no longer exists: someone deleted it.")
      : (data && (data.label_ids || data.detail)) ? String(data.label_ids || data.detail) : gettext("Could not change the labels."));
    return;
  }
  applied(id, data.label_ids);
  scheduleCounts();
}

function applied(id, labelIds) {
  const c = conversations.get(id);
  if (c) c.label_ids = labelIds;
  renderList();
  if (id === state.openId) renderThreadLabels();
  if (menuFor === id) {
    const on = new Set(labelIds);
    document.querySelectorAll("#label-menu input[type=checkbox]").forEach((box, i) => {
      box.checked = on.has([...labels.values()][i].id);
    });
  }
}

// conversation.labels: another agent (or this one, on another tab) changed them.
export function conversationLabels(frame) {
  if (frame.label_ids.some((id) => !labels.has(id))) {
    // A label this page has not heard of (labels.changed lost): the row still shows the rest.
    console.warn("[kefu] unknown label in", frame);
  }
  applied(frame.conversation_id, frame.label_ids);
  scheduleCounts(); // the label views' counts
}

// Rows from frames that did not load labels carry null: keep what the page knew, and null
// while it knows nothing ([] would say "no labels", and no page would correct it).
export function keepLabels(conversation, known) {
  if (known) conversation.label_ids ??= known.label_ids ?? null;
}

document.addEventListener("click", (event) => {
  const menu = document.getElementById("label-menu");
  if (menu && !menu.hidden && !menu.contains(event.target)) closeMenu();
});
document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeMenu(); });
