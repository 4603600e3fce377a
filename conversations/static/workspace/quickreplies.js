/* Quick replies (快捷回复): "/" at the start of the composer opens a picker of the merchant's
   shared replies and the agent's own, most used first. Typing filters by shortcut, title and
   text, and by the pinyin and pinyin initials the server stored with each reply ("/tk" finds
   退款说明), so nothing is converted per keystroke. Arrow keys choose, Enter or Tab inserts (with
   {visitor_name}, {agent_name} and {merchant_name} filled), Esc closes. The dialog manages them:
   agents their own, owners and admins the shared ones too. Reply text is untrusted: textContent. */

import { api, apiWrite } from "./api.js";
import { agentTyped } from "./composer.js";
import { el } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { API, DISPLAY_NAME, IS_MANAGER, MERCHANT_NAME, conversations, state, ui } from "./state.js";

const SHOWN = 8; // picker rows; the rest are a keystroke away

let replies = [];  // CannedResponse rows, as the API orders them (most used first)
let matches = [];
let chosen = 0;

export async function loadQuickReplies() {
  try {
    const data = await api(`${API}/canned-responses/`, true);
    replies = Array.isArray(data) ? data : data.results || [];
  } catch (err) {
    console.warn("[kefu] quick replies", err); // the picker just stays empty
  }
  if (ui.qrDialog.open) renderManager();
}

// --- The picker ------------------------------------------------------------------------------

function matchesQuery(r, q) {
  if (!q) return true;
  return [r.shortcut, r.title, r.text].some((s) => String(s || "").toLowerCase().includes(q))
    || (r.search_key || "").split(" ").some((word) => word.includes(q));
}

// The composer's text is "/query" (nothing else yet): the picker follows it.
export function pickerInput() {
  const m = /^\/(\S*)$/.exec(ui.body.value);
  if (!m) { closePicker(); return; }
  const q = m[1].toLowerCase();
  // A shortcut that starts with what was typed ranks first; otherwise the server's order.
  const found = replies.filter((r) => matchesQuery(r, q));
  matches = [
    ...found.filter((r) => r.shortcut.toLowerCase().startsWith(q)),
    ...found.filter((r) => !r.shortcut.toLowerCase().startsWith(q)),
  ].slice(0, SHOWN);
  chosen = 0;
  renderPicker();
}

function renderPicker() {
  ui.qrPicker.hidden = false;
  ui.body.setAttribute("aria-expanded", "true");
  if (!matches.length) {
    ui.qrList.replaceChildren(el("li", { class: "qr-none", text: replies.length
      ? gettext("No quick reply matches.") : gettext("No quick replies yet. Add one with “Quick replies”.") }));
    return;
  }
  ui.qrList.replaceChildren(...matches.map((r, i) => {
    const li = el("li", { class: "qr-item" + (i === chosen ? " chosen" : ""), role: "option",
      "aria-selected": String(i === chosen) },
      el("span", { class: "qr-shortcut", text: `/${r.shortcut}` }),
      r.title ? el("span", { class: "qr-title", text: r.title }) : null,
      r.personal ? el("span", { class: "qr-mine", text: gettext("Mine") }) : null,
      el("span", { class: "qr-text", text: r.text }),
    );
    li.addEventListener("mousedown", (event) => { event.preventDefault(); insert(r); });
    return li;
  }));
}

export function closePicker() {
  if (ui.qrPicker.hidden) return;
  ui.qrPicker.hidden = true;
  ui.body.setAttribute("aria-expanded", "false");
  matches = [];
}

// Keys while the picker is open; true when the key was the picker's (the composer must not
// send on that Enter).
export function pickerKeydown(event) {
  if (ui.qrPicker.hidden || event.isComposing || event.keyCode === 229) return false;
  if (event.key === "Escape") { closePicker(); }
  else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (!matches.length) return false;
    chosen = (chosen + (event.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
    renderPicker();
  } else if ((event.key === "Enter" || event.key === "Tab") && matches.length) {
    insert(matches[chosen]);
  } else return false;
  event.preventDefault();
  return true;
}

function fill(text) {
  const c = conversations.get(state.openId);
  const values = {
    visitor_name: c ? c.visitor.name : "",
    agent_name: DISPLAY_NAME,
    merchant_name: MERCHANT_NAME,
  };
  return text.replace(/\{(visitor_name|agent_name|merchant_name)\}/g, (_, name) => values[name]);
}

function insert(r) {
  ui.body.value = fill(r.text);
  ui.body.setSelectionRange(ui.body.value.length, ui.body.value.length);
  closePicker();
  ui.body.focus();
  agentTyped();
  r.usage_count += 1; // the next picker shows it where the server will
  apiWrite("POST", `${API}/canned-responses/${r.id}/use/`).catch((err) => console.warn("[kefu] quick reply use", err));
}

// --- The manager dialog ----------------------------------------------------------------------

export function openManager() {
  resetForm();
  renderManager();
  ui.qrDialog.showModal();
  loadQuickReplies();
}

function renderManager() {
  ui.qrRows.replaceChildren(...replies.map((r) => {
    const editable = r.personal || IS_MANAGER;
    const li = el("li", { class: "qr-row" },
      el("span", { class: "qr-shortcut", text: `/${r.shortcut}` }),
      el("span", { class: "qr-title", text: r.title || "" }),
      el("span", { class: r.personal ? "qr-mine" : "qr-shared", text: r.personal ? gettext("Mine") : gettext("Shared") }),
      el("span", { class: "qr-uses", text: fmt(gettext("used %s×"), [r.usage_count]) }),
      el("span", { class: "qr-text", text: r.text }),
    );
    li.dataset.id = r.id;
    if (editable) {
      const edit = el("button", { type: "button", class: "link qr-edit", text: gettext("Edit") });
      edit.addEventListener("click", () => startEdit(r));
      const remove = el("button", { type: "button", class: "link qr-delete", text: gettext("Delete") });
      remove.addEventListener("click", () => removeReply(r));
      li.append(el("span", { class: "qr-actions" }, edit, remove));
    }
    return li;
  }));
  ui.qrEmpty.hidden = replies.length > 0;
}

function resetForm() {
  ui.qrForm.reset();
  delete ui.qrForm.dataset.id;
  ui.qrPersonal.checked = true;
  ui.qrPersonalRow.hidden = !IS_MANAGER; // agents only keep personal replies
  ui.qrSave.textContent = gettext("Add");
  showErrors({});
}

function startEdit(r) {
  ui.qrForm.dataset.id = r.id;
  ui.qrShortcut.value = r.shortcut;
  ui.qrTitle.value = r.title || "";
  ui.qrText.value = r.text;
  ui.qrPersonal.checked = r.personal;
  ui.qrPersonalRow.hidden = true; // a reply does not change hands
  ui.qrSave.textContent = gettext("Save");
  showErrors({});
  ui.qrShortcut.focus();
}

function showErrors(errors) {
  for (const [field, node] of Object.entries({ shortcut: ui.qrShortcutError, title: ui.qrTitleError, text: ui.qrTextError })) {
    const messages = errors[field];
    node.textContent = messages ? [].concat(messages).join(" ") : "";
    node.hidden = !messages;
  }
  const general = errors.detail && !errors.shortcut && !errors.text && !errors.title ? errors.detail : "";
  ui.qrError.textContent = general;
  ui.qrError.hidden = !general;
}

export async function saveReply() {
  const id = ui.qrForm.dataset.id;
  const body = { shortcut: ui.qrShortcut.value.trim(), title: ui.qrTitle.value.trim(), text: ui.qrText.value };
  if (!id) body.personal = !IS_MANAGER || ui.qrPersonal.checked;
  const { ok, data } = await apiWrite(id ? "PATCH" : "POST", `${API}/canned-responses/${id ? `${id}/` : ""}`, body);
  if (!ok) { showErrors(data || {}); return; }
  resetForm();
  await loadQuickReplies();
}

async function removeReply(r) {
  if (!window.confirm(fmt(gettext("Delete the quick reply /%s?"), [r.shortcut]))) return;
  const { ok, data } = await apiWrite("DELETE", `${API}/canned-responses/${r.id}/`);
  if (!ok) { showErrors(data || {}); return; }
  await loadQuickReplies();
}
