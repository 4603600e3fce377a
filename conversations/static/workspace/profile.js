/* The customer profile in the visitor pane (客户管理, issue 13): identity, contact, device and
   language, referrer, time on site, the page trail, past conversations (opened in place),
   custom attributes (editable), notes about the customer, labels, and blocking. Read from
   GET /api/v1/visitors/<id>/profile/ when the open conversation's visitor changes, and again on
   visitor.profile_changed. Everything the visitor or an agent wrote goes through textContent. */

import { api, apiWrite } from "./api.js";
import { el, timeText } from "./dom.js";
import { dateTimeText, fmt, gettext, LOCALE, STATUS } from "./i18n.js";
import { fetchRow } from "./inbox.js";
import { chip, labels } from "./labels.js";
import { notify } from "./notifications.js";
import { API, IS_MANAGER, MY_ID, $, conversations, state } from "./state.js";
import { openConversation } from "./thread.js";

let shownId = null;   // the visitor whose profile is shown
let profile = null;   // their profile, as the API gave it
let loading = 0;      // a newer load makes an older answer stale
let blockFormOpen = false;

const KIND_INPUT = { text: "text", number: "number", date: "date" };

// Called whenever the visitor pane shows a visitor (renderVisitor): loads on a change only.
export function showProfile(visitorId) {
  if (visitorId === shownId) return;
  shownId = visitorId;
  profile = null;
  blockFormOpen = false;
  render();
  loadProfile();
}

export function hideProfile() {
  shownId = null;
  profile = null;
  const box = $("profile");
  if (box) box.hidden = true;
}

async function loadProfile() {
  if (shownId === null) return;
  const ticket = ++loading;
  try {
    const data = await api(`${API}/visitors/${shownId}/profile/`, true);
    if (ticket !== loading || data.id !== shownId) return;
    profile = data;
  } catch (err) {
    if (ticket !== loading) return;
    console.warn("[kefu] profile", err);
    profile = { error: true };
  }
  render();
}

// visitor.profile_changed: re-read the shown profile; a merged visitor's rows follow through
// conversation.updated, and the pane follows the open conversation's new visitor.
export function profileChanged(frame) {
  if (frame.visitor_id !== shownId && frame.merged_into !== shownId) return;
  if (frame.merged_into) shownId = frame.merged_into;
  loadProfile();
}

// visitor.updated (another page, online or not): the trail and time on site moved on. Re-read
// at most every PROFILE_REFRESH_MS, so a visitor clicking through the shop costs little.
const PROFILE_REFRESH_MS = 15000;
let refreshTimer = null;
export function profileTouched(visitorId) {
  if (visitorId !== shownId || refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; loadProfile(); }, PROFILE_REFRESH_MS);
}

export function renderProfileLabels() {
  if (profile && !profile.error) render();
}

function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  if (minutes < 1) return gettext("less than a minute");
  if (minutes < 60) return fmt(gettext("%s min"), [minutes]);
  return fmt(gettext("%s h %s min"), [Math.floor(minutes / 60), minutes % 60]);
}

function section(title, ...children) {
  return el("section", { class: "profile-section" }, el("h3", { class: "profile-title", text: title }), ...children);
}

function facts(pairs) {
  const dl = el("dl", { class: "profile-facts" });
  for (const [label, value, cls] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", { text: label }), el("dd", { class: cls || "", text: String(value) }));
  }
  return dl;
}

function render() {
  const box = $("profile");
  if (!box) return;
  box.hidden = shownId === null;
  if (shownId === null) return;
  if (!profile) { box.replaceChildren(el("p", { class: "empty", text: gettext("Loading…") })); return; }
  if (profile.error) { box.replaceChildren(el("p", { class: "empty", text: gettext("Could not load the customer profile.") })); return; }
  const p = profile;
  const device = [p.device.browser, p.device.os].filter(Boolean).join(" · ");
  const form = { desktop: gettext("desktop"), phone: gettext("phone"), tablet: gettext("tablet") }[p.device.form];
  // A block is shown first (the agent must see it); the button to block comes last, away
  // from the everyday fields.
  box.replaceChildren(...[
    p.blocked ? blockedPart(p) : null,
    facts([
      // "Not signed in", not "anonymous": the name and e-mail above may be the visitor's own.
      [gettext("Customer"), p.identified ? fmt(gettext("Signed in as %s"), [p.external_id]) : gettext("Not signed in")],
      [gettext("Phone"), p.phone],
      [gettext("Time on site"), p.page_view_count ? duration(p.time_on_site_seconds) : ""],
      [gettext("Came from"), p.referrer, "url"],
      [gettext("Device"), [device, form].filter(Boolean).join(" · ")],
      [gettext("Language"), p.language],
      [gettext("First seen"), p.first_seen_at ? dateTimeText(p.first_seen_at) : ""],
    ]),
    prechatPart(p),
    labelsPart(p),
    attributesPart(p),
    notesPart(p),
    trailPart(p),
    historyPart(p),
    p.blocked ? null : blockedPart(p),
  ].filter(Boolean)); // a null child would print "null"
}

function blockedPart(p) {
  const part = el("div", { class: "profile-block" + (p.blocked ? "" : " profile-end") });
  if (p.blocked) {
    const who = p.blocked_by ? fmt(gettext("Blocked by %s"), [p.blocked_by]) : gettext("Blocked");
    const when = p.blocked_at ? ` · ${timeText(p.blocked_at)}` : "";
    const unblock = el("button", { type: "button", class: "secondary", id: "profile-unblock", text: gettext("Unblock") });
    unblock.addEventListener("click", () => block(false));
    part.append(el("div", { class: "blocked-banner", role: "status" },
      el("strong", { text: who + when }),
      p.block_reason ? el("span", { class: "blocked-reason", text: fmt(gettext("Reason: %s"), [p.block_reason]) }) : null,
      el("span", { class: "muted", text: gettext("This visitor cannot write to you; the chat shows as closed to them.") }),
      unblock));
    return part;
  }
  if (!blockFormOpen) {
    const open = el("button", { type: "button", class: "link danger-link", id: "profile-block", text: gettext("Block visitor") });
    open.addEventListener("click", () => { blockFormOpen = true; render(); $("block-reason").focus(); });
    part.append(open);
    return part;
  }
  const reason = el("input", { id: "block-reason", maxlength: "300", placeholder: gettext("Reason (only agents see it)") });
  const confirm = el("button", { type: "submit", class: "danger", text: gettext("Block") });
  const cancel = el("button", { type: "button", class: "link", text: gettext("Cancel") });
  cancel.addEventListener("click", () => { blockFormOpen = false; render(); });
  const form = el("form", { class: "block-form" },
    el("p", { class: "muted", text: gettext("A blocked visitor cannot start or continue a chat.") }), reason,
    el("div", { class: "row" }, cancel, confirm));
  form.addEventListener("submit", (event) => { event.preventDefault(); block(true, reason.value); });
  part.append(form);
  return part;
}

async function block(on, reason) {
  const url = `${API}/visitors/${shownId}/block/`;
  const { ok, data } = await apiWrite(on ? "POST" : "DELETE", url, on ? { reason: reason || "" } : undefined);
  if (!ok) { notify((data && (data.reason || data.detail)) ? String(data.reason || data.detail) : gettext("Could not change the block.")); return; }
  blockFormOpen = false;
  loadProfile();
}

// The pre-chat form's answers, as the visitor typed them (text only: untrusted), with the
// merchant's own question labels.
function prechatPart(p) {
  const f = p.prechat;
  if (!f) return null;
  const list = facts([
    [gettext("Name"), f.name],
    [gettext("Email"), f.email],
    [gettext("Phone"), f.phone],
    ...(f.answers || []).map((a) => [a.question, a.answer]),
  ]);
  list.classList.add("prechat-answers");
  const when = f.answered_at ? el("p", { class: "muted prechat-when", text: fmt(gettext("Answered %s"), [timeText(f.answered_at)]) }) : null;
  const part = section(gettext("Pre-chat form"), list, when);
  part.id = "profile-prechat";
  return part;
}

function labelsPart(p) {
  const known = (p.label_ids || []).map((id) => labels.get(id)).filter(Boolean);
  if (!known.length) return null;
  return section(gettext("Labels"), el("div", { class: "conv-labels" }, ...known.map((l) => chip(l))));
}

function attributeValue(a) {
  if (a.value === null || a.value === undefined || a.value === "") return "—";
  if (a.kind === "date") return new Date(`${a.value}T00:00:00`).toLocaleDateString(LOCALE);
  return String(a.value);
}

function attributesPart(p) {
  if (!p.attributes.length) return null;
  const dl = el("dl", { class: "profile-facts attributes" });
  for (const a of p.attributes) {
    const edit = el("button", { type: "button", class: "link attr-edit", title: fmt(gettext("Edit %s"), [a.name]), text: gettext("Edit") });
    const dd = el("dd", { "data-key": a.key }, el("span", { class: "attr-value", text: attributeValue(a) }), " ", edit);
    edit.addEventListener("click", () => editAttribute(dd, a));
    dl.append(el("dt", { text: a.name }), dd);
  }
  return section(gettext("Custom attributes"), dl);
}

function editAttribute(dd, a) {
  let input;
  if (a.kind === "choice") {
    input = el("select", {}, el("option", { value: "", text: "—" }), ...a.choices.map((c) => el("option", { value: c, text: c })));
  } else {
    input = el("input", { type: KIND_INPUT[a.kind] || "text" });
    if (a.kind === "number") input.step = "any";
  }
  input.value = a.value === null || a.value === undefined ? "" : String(a.value);
  input.setAttribute("aria-label", a.name);
  const save = el("button", { type: "submit", class: "primary small", text: gettext("Save") });
  const cancel = el("button", { type: "button", class: "link", text: gettext("Cancel") });
  const error = el("p", { class: "field-error", role: "alert", hidden: "" });
  const form = el("form", { class: "attr-form" }, input, save, cancel, error);
  cancel.addEventListener("click", render);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = input.value.trim();
    const value = raw === "" ? null : a.kind === "number" ? Number(raw) : raw;
    const { ok, data } = await apiWrite("PATCH", `${API}/visitors/${shownId}/attributes/`, { [a.key]: value });
    if (!ok) {
      const messages = data && (data[`attributes.${a.key}`] || data.detail);
      error.textContent = Array.isArray(messages) ? messages.join(" ") : String(messages || gettext("Could not save."));
      error.hidden = false;
      return;
    }
    loadProfile();
  });
  dd.replaceChildren(form);
  input.focus();
}

function notesPart(p) {
  const list = el("ul", { class: "notes" }, ...p.notes.map((n) => {
    const mine = n.author_id === MY_ID;
    const remove = mine || IS_MANAGER
      ? el("button", { type: "button", class: "link note-delete", text: gettext("Delete") }) : null;
    if (remove) remove.addEventListener("click", () => deleteNote(n.id));
    return el("li", { class: "customer-note" },
      el("div", { class: "note-body", text: n.body }),
      el("div", { class: "note-meta" }, el("span", { text: `${n.author_name || "—"} · ${timeText(n.created_at)}` }), remove));
  }));
  const input = el("textarea", { id: "note-body", rows: "2", maxlength: "2000", placeholder: gettext("A note about this customer (only agents see it)") });
  const add = el("button", { type: "submit", class: "secondary", text: gettext("Add note") });
  const form = el("form", { class: "note-form" }, input, add);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    const { ok, data } = await apiWrite("POST", `${API}/visitors/${shownId}/notes/`, { body: input.value });
    if (!ok) { notify(data && data.body ? String(data.body) : gettext("Could not save the note.")); return; }
    input.value = "";
    loadProfile();
  });
  return section(gettext("Notes about the customer"), p.notes.length ? list : null, form);
}

async function deleteNote(id) {
  const { ok } = await apiWrite("DELETE", `${API}/visitors/${shownId}/notes/${id}/`);
  if (!ok) notify(gettext("Could not delete the note."));
  loadProfile();
}

function trailPart(p) {
  if (!p.page_views.length) return null;
  return section(fmt(gettext("Pages seen (%s)"), [p.page_view_count]), el("ol", { class: "trail" }, ...p.page_views.slice(0, 10).map((v) =>
    el("li", { title: v.url },
      el("span", { class: "trail-title", text: v.title || v.url }),
      el("time", { class: "muted", text: timeText(v.viewed_at) })))));
}

function historyPart(p) {
  const past = p.conversations.filter((c) => c.id !== state.openId);
  if (!past.length) return null;
  return section(gettext("Past conversations"), el("ul", { class: "history" }, ...past.map((c) => {
    const button = el("button", { type: "button", class: "history-item", "data-id": String(c.id) },
      el("span", { class: "history-top" },
        el("span", { text: `#${c.id}` }),
        el("span", { class: "chip", text: STATUS[c.status] || c.status }),
        el("time", { class: "muted", text: timeText(c.last_message_at || c.created_at) })),
      el("span", { class: "history-preview", text: c.last_message_preview || "" }));
    button.addEventListener("click", () => openPast(c.id));
    return el("li", {}, button);
  })));
}

// A past conversation opens in the middle pane like any other: its row first, for the header.
async function openPast(id) {
  if (!conversations.has(id)) {
    try {
      await fetchRow(id);
    } catch (err) {
      notify(gettext("This conversation no longer exists."));
      return;
    }
  }
  openConversation(id);
}
