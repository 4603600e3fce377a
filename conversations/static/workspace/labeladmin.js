/* Managing the label catalogue from the workspace (owners and admins; IS_MANAGER): the
   "Manage labels" button above the inbox (views.js renderLabelViews) opens #labels-dialog, one
   row per label to rename, recolour or delete it, and a row to add one. Writes go through the
   labels API, which refuses agents (403) whatever this page shows; every open workspace of the
   merchant, this one included, then gets labels.changed and redraws (labels.js setLabels), so
   this module never edits the catalogue itself. */

import { apiWrite } from "./api.js";
import { el } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { labels } from "./labels.js";
import { API, IS_MANAGER, $ } from "./state.js";

const COLOURS = ["#dc2626", "#ea580c", "#ca8a04", "#16a34a", "#0891b2", "#2563eb", "#7c3aed", "#db2777", "#64748b"];

// A refusal in the page's language: the service's own sentences are English only.
function errorText(status, data) {
  if (status === 403) return gettext("Only owners and admins manage labels.");
  if (!data) return gettext("Could not save the label. Try again.");
  if (data.code === "label_name_taken") return gettext("There is already a label with this name.");
  if (data.code === "not_found") return gettext("This label no longer exists: someone deleted it.");
  for (const field of ["name", "colour"]) if (data[field]) return String(data[field][0] || data[field]); // DRF's, translated
  return String(data.detail || gettext("Could not save the label. Try again."));
}

function showError(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

function row(label) {
  const colour = el("input", { type: "color", class: "label-colour", value: label.colour, "aria-label": fmt(gettext("Colour of %s"), [label.name]) });
  const name = el("input", { class: "label-name", value: label.name, autocomplete: "off", "aria-label": gettext("Name") });
  const save = el("button", { type: "submit", class: "secondary", text: gettext("Save") });
  const remove = el("button", { type: "button", class: "link danger-link", text: gettext("Delete") });
  const error = el("p", { class: "field-error", role: "alert", hidden: "" });
  const form = el("form", { class: "label-row", "data-label": String(label.id) }, colour, name, save, remove, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { ok, status, data } = await apiWrite("PATCH", `${API}/labels/${label.id}/`, { name: name.value.trim(), colour: colour.value });
    showError(error, ok ? "" : errorText(status, data));
  });
  // Deleting takes the label off every conversation: a second click confirms it.
  remove.addEventListener("click", async () => {
    if (!remove.dataset.armed) {
      remove.dataset.armed = "1";
      remove.textContent = fmt(gettext("Delete “%s” from every conversation?"), [label.name]);
      return;
    }
    const { ok, status, data } = await apiWrite("DELETE", `${API}/labels/${label.id}/`);
    showError(error, ok ? "" : errorText(status, data));
  });
  return el("li", {}, form);
}

// The rows again after labels.changed; a row being typed in keeps its text.
export function renderLabelAdmin() {
  const dialog = $("labels-dialog");
  if (!IS_MANAGER || !dialog || !dialog.open) return;
  const typing = dialog.querySelector(".label-row input.label-name:focus");
  const keep = typing ? { id: typing.closest("form").dataset.label, value: typing.value } : null;
  $("labels-rows").replaceChildren(...[...labels.values()].map(row));
  $("labels-empty").hidden = labels.size > 0;
  if (keep) {
    const input = dialog.querySelector(`.label-row[data-label="${keep.id}"] input.label-name`);
    if (input) { input.value = keep.value; input.focus(); }
  }
}

function openDialog() {
  const dialog = $("labels-dialog");
  if (!dialog.open) dialog.showModal();
  showError($("label-new-error"), "");
  renderLabelAdmin();
  $("label-new-name").focus();
}

export function wireLabelAdmin() {
  if (!IS_MANAGER) return;
  document.getElementById("label-views").addEventListener("click", (event) => {
    if (event.target.closest("#labels-manage")) openDialog();
  });
  $("labels-close").addEventListener("click", () => $("labels-dialog").close());
  $("label-new").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("label-new-name");
    const colour = $("label-new-colour");
    const { ok, status, data } = await apiWrite("POST", `${API}/labels/`, { name: name.value.trim(), colour: colour.value });
    showError($("label-new-error"), ok ? "" : errorText(status, data));
    if (ok) {
      name.value = "";
      colour.value = COLOURS[(labels.size + 1) % COLOURS.length]; // the next one differs
    }
  });
}
