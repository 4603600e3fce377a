/* Inbox views, live counts, team and sort, and search (docs/desk.md, "Views and search").

   A view is a filter the server applies (`?view=` on the conversation list,
   selectors.INBOX_VIEWS); `inView` below says the same thing in the browser so a live
   `conversation.updated` moves a row in or out of the shown view at once. The counts come from
   /conversations/counts/, fetched again after every change an agent could see (scheduleCounts).

   Search: `/conversations/?q=` for the conversations (visitor fields or a message matches) and
   `/search/messages/?q=` for the messages, each hit marked with the ranges the server found;
   opening a hit scrolls the thread to that message and marks it (thread.js applyFocus). The
   marks are built from text nodes: message text never becomes markup. */

import { api } from "./api.js";
import { el, time, timeText } from "./dom.js";
import { fmt, gettext, STATUS } from "./i18n.js";
import { fetchRow, liveNow, loadList, renderList, renderRow, upsert } from "./inbox.js";
import { API, IS_MANAGER, MERCHANT, MY_ID, conversations, state, teams, ui } from "./state.js";
import { labels, labelViews } from "./labels.js";
import { openConversation, renderOpenHeader } from "./thread.js";
import { renderTriage } from "./triage.js";

const STORE_KEY = `kefu.inbox.${API}`;
const COUNTS_INTERVAL_MS = 800;
const ACTIVE = new Set(["open", "pending"]);

// More filters beside the team (a label, ...): name -> {value, test(row)}. Each is sent as
// `?name=value` (the server's ConversationFilterSerializer field of that name) and `test` says
// the same in the browser for live updates. Set one, then loadList().
export const extraFilters = new Map();

// The server's views (selectors.INBOX_VIEWS), for live updates between two loads.
export function inView(c) {
  if (state.team !== null && c.team_id !== state.team) return false;
  for (const f of extraFilters.values()) if (!f.test(c)) return false;
  const active = ACTIVE.has(c.status);
  const awake = active && !c.snoozed_at;
  if (labelView(state.view)) return awake; // its label: extraFilters
  switch (state.view) {
    case "mine": return awake && c.assignee_id === MY_ID;
    case "unassigned": return awake && c.assignee_id === null && !c.queued_at;
    case "queued": return awake && c.assignee_id === null && Boolean(c.queued_at);
    case "open": return awake;
    case "snoozed": return active && Boolean(c.snoozed_at);
    case "resolved": return !active;
    default: return true; // "all"
  }
}

// The server's sorts (apis.CONVERSATION_SORTS): NULL "waiting since" counts as the highest.
const waitKey = (c) => (c.awaiting_reply_since ? time(c.awaiting_reply_since) : Infinity);
export function compareRows(a, b) {
  if (state.sort === "waiting") return waitKey(a) - waitKey(b) || a.id - b.id;
  if (state.sort === "priority") return b.priority - a.priority || waitKey(a) - waitKey(b) || a.id - b.id;
  return time(b.last_message_at || b.created_at) - time(a.last_message_at || a.created_at) || b.id - a.id;
}

export function listUrl() {
  const params = new URLSearchParams({ sort: state.sort });
  if (state.view !== "all") params.set("view", labelView(state.view) ? "open" : state.view);
  if (state.team !== null) params.set("team", String(state.team));
  for (const [name, f] of extraFilters) params.set(name, String(f.value));
  return `${API}/conversations/?${params}`;
}

function save() {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({ view: state.view, team: state.team, sort: state.sort }));
  } catch (e) { /* private mode: the choice lasts for this page */ }
}

export function restoreViewChoice() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved && typeof saved === "object") {
      const tab = `[data-view="${CSS.escape(String(saved.view))}"]`;
      if (ui.views.querySelector(tab)) state.view = saved.view;
      // A label's tab, drawn by the template: only while that label exists.
      else if (labelView(saved.view) && document.querySelector(`#label-views ${tab}`)) filterByLabel(saved.view);
      if (["newest", "waiting", "priority"].includes(saved.sort)) state.sort = saved.sort;
      if (Number.isInteger(saved.team)) state.team = saved.team;
    }
  } catch (e) { /* a damaged entry: the defaults */ }
  ui.viewSort.value = state.sort;
  renderViewTabs();
}

export function renderViewTabs() {
  for (const button of document.querySelectorAll("#views button.view, #label-views button.view")) {
    const on = button.dataset.view === state.view;
    button.classList.toggle("on", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }
}

function setView(view) {
  state.view = view;
  if (labelView(view)) filterByLabel(view);
  else extraFilters.delete("label");
  save();
  renderViewTabs();
  loadList();
}

// --- Teams (from session.ready) and counts --------------------------------------------------------

let counts = { teams: {} };

export function renderTeams() {
  const options = [el("option", { value: "", text: gettext("All teams") })];
  for (const t of [...teams.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const n = counts.teams && counts.teams[String(t.id)];
    options.push(el("option", { value: String(t.id), text: n ? `${t.name} (${n})` : t.name }));
  }
  ui.viewTeam.replaceChildren(...options);
  if (state.team !== null && !teams.has(state.team)) state.team = null; // gone
  ui.viewTeam.value = state.team === null ? "" : String(state.team);
  ui.viewTeam.hidden = teams.size === 0;
}

function renderCounts() {
  for (const span of ui.views.querySelectorAll(".view-count")) {
    const n = counts[span.dataset.count];
    span.textContent = typeof n === "number" ? String(n) : "";
  }
  for (const span of document.querySelectorAll("#label-views .view-count")) {
    span.textContent = String((counts.labels && counts.labels[span.dataset.label]) || 0);
  }
  renderTeams();
}

// At most one load per COUNTS_INTERVAL_MS: the first change loads at once (the chips have their
// numbers with the first list), the changes after it within the interval share one load at its
// end. A load answered after a later one started is dropped (its numbers are older).
let countsTimer = null;
let countsAt = -Infinity;
let countsSeq = 0;
export function scheduleCounts() {
  if (countsTimer) return;
  const wait = countsAt + COUNTS_INTERVAL_MS - performance.now();
  if (wait <= 0) loadCounts();
  else countsTimer = setTimeout(loadCounts, wait);
}

export async function loadCounts() {
  countsTimer = null;
  countsAt = performance.now();
  const mine = ++countsSeq;
  try {
    const fresh = await api(`${API}/conversations/counts/`, true);
    if (mine !== countsSeq) return;
    counts = fresh;
    renderCounts();
  } catch (err) {
    console.warn("[kefu] counts", err); // the tabs stay without numbers
  }
}

// --- Label views (labels.js labelViews): the open conversations with one label ---------------------

const labelView = (view) => /^label-\d+$/.test(String(view));

function filterByLabel(view) {
  state.view = view;
  const id = Number(view.slice("label-".length));
  extraFilters.set("label", { value: id, test: (c) => (c.label_ids || []).includes(id) });
}

// One tab per label, after the catalogue changed (labels.js setLabels); owners and admins also
// get the button that manages them (labeladmin.js). The page's template draws the same tabs
// first, so the list does not move when session.ready arrives. A view whose label was deleted
// falls back to "All".
export function renderLabelViews() {
  const nav = document.getElementById("label-views");
  if (!nav) return;
  const tabs = labelViews().map((v) => {
    const count = el("span", { class: "view-count", "data-label": String(v.params.label) });
    if (counts.labels) count.textContent = String(counts.labels[String(v.params.label)] || 0);
    const swatch = el("span", { class: "label-swatch" });
    swatch.style.background = v.colour;
    return el("button", { type: "button", class: "view view-label", "data-view": v.id, title: v.name },
      swatch, el("span", { class: "view-label-name", text: v.name }), count);
  });
  const manage = IS_MANAGER
    ? el("button", { type: "button", id: "labels-manage", class: "link labels-manage", text: gettext("Manage labels") })
    : null;
  nav.replaceChildren(...tabs, ...(manage ? [manage] : []));
  nav.hidden = !tabs.length && !manage;
  if (labelView(state.view) && !labels.has(Number(state.view.slice("label-".length)))) {
    state.view = "all";
    extraFilters.delete("label");
    save();
    if (!searching()) loadList(); // a search shown stays; clearing it loads the list
  }
  renderViewTabs();
}

// --- Search -------------------------------------------------------------------------------------

let searchSeq = 0;     // answers to an older search are dropped
let hitsNext = null;   // the next page of message hits
let lastQuery = "";

// `text` with the [start, end) ranges wrapped in <mark>, as text nodes only.
export function marked(text, ranges) {
  const nodes = [];
  let at = 0;
  for (const [start, end] of ranges || []) {
    if (start < at || end > text.length || start >= end) continue;
    if (start > at) nodes.push(document.createTextNode(text.slice(at, start)));
    nodes.push(el("mark", { text: text.slice(start, end) }));
    at = end;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}

// A window of the body around the first mark, so long messages show where they matched.
function snippet(body, ranges, width = 60) {
  if (!ranges || !ranges.length || body.length <= width) return { text: body, ranges };
  const start = Math.max(0, ranges[0][0] - 15);
  const text = (start ? "…" : "") + body.slice(start, start + width) + (start + width < body.length ? "…" : "");
  const shift = start ? 1 - start : 0;
  const inside = ranges.map(([s, e]) => [s + shift, Math.min(e + shift, text.length)]).filter(([s, e]) => s >= 0 && s < e);
  return { text, ranges: inside };
}

function renderHit(hit) {
  const { text, ranges } = snippet(hit.body, hit.highlights);
  const button = el("button", { type: "button", class: "hit", "data-id": String(hit.conversation_id), "data-seq": String(hit.seq) },
    el("span", { class: "hit-top" },
      el("span", { class: "hit-who", text: hit.visitor.name }),
      hit.private ? el("span", { class: "note-label", text: gettext("Private note") }) : null,
      el("span", { class: "chip", text: STATUS[hit.conversation_status] || hit.conversation_status }),
      el("time", { class: "conv-time", text: timeText(hit.created_at) }),
    ),
    el("span", { class: "hit-text" }, el("span", { class: "hit-sender", text: `${hit.sender_name || ""}: ` }), ...marked(text, ranges)),
  );
  button.hit = hit;
  return el("li", {}, button);
}

function searchError(err) {
  return err && err.status === 400 && err.data && err.data.q ? String(err.data.q[0]) : gettext("The search failed. Try again.");
}

// Like api.js's api(), but a refusal keeps its body: a 400 says what is wrong with `q`.
async function getJson(url) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Kefu-Merchant": String(MERCHANT) },
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status, data });
  return data;
}

export async function runSearch() {
  const q = ui.searchQ.value.trim();
  if (!q) { clearSearch(); return; }
  lastQuery = q;
  const mine = ++searchSeq;
  ui.searchResults.hidden = false;
  ui.list.hidden = true;
  ui.listEmpty.hidden = true;
  ui.more.hidden = true;
  ui.searchStatus.textContent = gettext("Searching…");
  const params = new URLSearchParams({ q });
  const asked = liveNow();
  try {
    const [convs, hits] = await Promise.all([
      getJson(`${API}/conversations/?${params}`),
      getJson(`${API}/search/messages/?${params}`),
    ]);
    if (mine !== searchSeq) return;
    convs.results.forEach((row) => upsert(row, asked)); // the rows the header and the panes read
    ui.searchConvs.replaceChildren(...convs.results.map((c) => renderRow(conversations.get(c.id) || c)));
    ui.searchHits.replaceChildren(...hits.results.map(renderHit));
    hitsNext = hits.next;
    ui.searchMore.hidden = !hitsNext;
    ui.searchStatus.textContent = convs.results.length || hits.results.length
      ? fmt(gettext("Results for “%s”"), [q]) : fmt(gettext("Nothing found for “%s”."), [q]);
  } catch (err) {
    if (mine !== searchSeq) return;
    ui.searchConvs.replaceChildren();
    ui.searchHits.replaceChildren();
    ui.searchMore.hidden = true;
    ui.searchStatus.textContent = searchError(err);
  }
}

async function moreHits() {
  if (!hitsNext) return;
  const mine = searchSeq;
  try {
    const page = await getJson(hitsNext);
    if (mine !== searchSeq) return;
    ui.searchHits.append(...page.results.map(renderHit));
    hitsNext = page.next;
    ui.searchMore.hidden = !hitsNext;
  } catch (err) {
    ui.searchStatus.textContent = searchError(err);
  }
}

export function clearSearch() {
  searchSeq += 1;
  lastQuery = "";
  ui.searchQ.value = "";
  ui.searchResults.hidden = true;
  ui.list.hidden = false;
  ui.searchConvs.replaceChildren();
  ui.searchHits.replaceChildren();
  loadList();
}

export const searching = () => Boolean(lastQuery);

export function wireViews() {
  ui.views.addEventListener("click", (event) => {
    const button = event.target.closest("button.view");
    if (button) { if (searching()) clearSearch(); setView(button.dataset.view); }
  });
  document.getElementById("label-views").addEventListener("click", (event) => {
    const button = event.target.closest("button.view");
    if (button) { if (searching()) clearSearch(); setView(button.dataset.view); }
  });
  ui.viewTeam.addEventListener("change", () => {
    state.team = ui.viewTeam.value ? Number(ui.viewTeam.value) : null;
    save();
    loadList();
  });
  ui.viewSort.addEventListener("change", () => {
    state.sort = ui.viewSort.value;
    save();
    loadList();
  });
  ui.searchForm.addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });
  ui.searchQ.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); clearSearch(); ui.searchQ.blur(); }
  });
  ui.searchQ.addEventListener("search", () => { if (!ui.searchQ.value) clearSearch(); }); // the ✕
  ui.searchMore.addEventListener("click", moreHits);
  ui.searchConvs.addEventListener("click", (event) => {
    const button = event.target.closest("button.conv");
    if (button) openConversation(Number(button.dataset.id));
  });
  ui.searchHits.addEventListener("click", (event) => {
    const button = event.target.closest("button.hit");
    if (!button) return;
    const hit = button.hit;
    for (const b of ui.searchHits.querySelectorAll("button.hit.active")) b.classList.remove("active");
    button.classList.add("active");
    openConversation(hit.conversation_id, { seq: hit.seq, ranges: hit.highlights });
    if (!conversations.has(hit.conversation_id)) loadRow(hit.conversation_id);
  });
}

// A hit's conversation the page has no row for (an old, resolved one): its row, for the header.
async function loadRow(id) {
  try {
    await fetchRow(id, true);
    renderList();
    if (state.openId === id) { renderOpenHeader(); renderTriage(); }
  } catch (err) {
    console.warn("[kefu] conversation row", err); // the header says #id meanwhile
  }
}
