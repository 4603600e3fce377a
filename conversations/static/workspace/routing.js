/* Routing as the agent sees it: the queue (claim), the routing timeline of the open
   conversation and its header (assignee, bot, intent), and the transfer and status actions. */

import { api } from "./api.js";
import { el, time, timeText } from "./dom.js";
import { dateTimeText, fmt, gettext, PRESENCE, REFUSED, ROUTING } from "./i18n.js";
import { notify } from "./notifications.js";
import { send, socket } from "./session.js";
import { $, API, MY_ID, agents, conversations, state, teams, threads, ui } from "./state.js";
import { agentName } from "./team.js";
import { nearBottom, openConversation, place, scrollDown } from "./thread.js";

const ACTION_TIMEOUT_MS = 15000;

let queue = [];                  // QueueEntryOut, serving order
let queueTotal = 0;
// Routing actions (claim, transfer, status) whose answer is pending: their `error` frames
// carry no `ref`, so a refusal is matched to the oldest action still waiting.
const actions = [];
const claiming = new Set();      // conversation ids claimed from this page: opened when won

// --- Header of the open conversation ---------------------------------------------------------

export function renderRoutingHeader(c) {
  ui.assignee.textContent = !c ? ""
    : c.assignee_id === null ? gettext("Unassigned")
      : c.assignee_id === MY_ID ? gettext("Assigned to you")
        : fmt(gettext("Assigned to %s"), [agentName(c.assignee_id)]);
  ui.bot.hidden = !(c && c.bot_active);
  ui.intent.hidden = !(c && c.intent);
  ui.intent.textContent = c && c.intent ? fmt(gettext("Intent: %s"), [c.intent]) : "";
  renderRating(c);
  const t = threads.get(state.openId);
  ui.handed.hidden = !(t && [...t.events.values()].some((e) => e.kind === "handover"));
  const finished = c && (c.status === "resolved" || c.status === "closed");
  ui.resolve.textContent = finished ? gettext("Reopen") : gettext("Resolve");
  ui.resolve.dataset.next = finished ? "open" : "resolved";
  ui.resolve.disabled = !c || c.status === "closed";
  ui.transfer.disabled = !c || finished;
}

// The visitor's satisfaction rating (1-5) and comment, live from conversation.updated. The
// comment is the visitor's text: textContent only.
function renderRating(c) {
  const rating = c && c.rating;
  ui.rating.hidden = !rating;
  if (!rating) return;
  const stars = "★".repeat(rating) + "☆".repeat(5 - rating);
  ui.rating.textContent = fmt(gettext("Rated %s"), [stars]) + (c.rating_comment ? ` · ${c.rating_comment}` : "");
  ui.rating.title = c.rating_comment || "";
  ui.rating.setAttribute("aria-label", fmt(gettext("Rated %s of 5"), [rating]) + (c.rating_comment ? `: ${c.rating_comment}` : ""));
}

// --- Timeline ------------------------------------------------------------------------------

export function renderEvent(e) {
  const parts = [ROUTING[e.kind] || e.kind];
  if (e.from_user_id && e.to_user_id) parts.push(`${agentName(e.from_user_id)} → ${agentName(e.to_user_id)}`);
  else if (e.to_user_id) parts.push(`→ ${agentName(e.to_user_id)}`);
  if (e.team_id && teams.has(e.team_id)) parts.push(fmt(gettext("team %s"), [teams.get(e.team_id).name]));
  const li = el("li", { class: `routing-event routing-${e.kind}` },
    el("span", { class: "routing-kind", text: parts.join(" · ") }),
    e.reason ? el("span", { class: "routing-reason", text: e.reason }) : null,
    el("time", { class: "when", text: timeText(e.created_at) }),
  );
  li.dataset.event = e.id;
  li.dataset.at = time(e.created_at);
  return li;
}

// Names in the timeline come from the agent list: redraw once it is (re)loaded.
export function redrawEvents() {
  const t = threads.get(state.openId);
  if (!t) return;
  for (const li of ui.messages.querySelectorAll("li[data-event]")) {
    const e = t.events.get(Number(li.dataset.event));
    if (e) li.replaceWith(renderEvent(e));
  }
}

// Remember a routing event of a loaded conversation; show it if that one is open.
export function routingEvent(e) {
  const t = threads.get(e.conversation_id);
  if (!t || t.events.has(e.id)) return;
  t.events.set(e.id, e);
  if (e.conversation_id !== state.openId) return;
  const stick = nearBottom();
  place(renderEvent(e));
  if (stick) scrollDown(true);
  renderRoutingHeader(conversations.get(state.openId));
}

export async function loadRoutingEvents(id) {
  try {
    let url = `${API}/conversations/${id}/routing-events/`;
    while (url) {
      const data = await api(url, true);
      (Array.isArray(data) ? data : data.results || []).forEach(routingEvent);
      url = Array.isArray(data) ? null : data.next;
    }
  } catch (err) {
    console.warn("[kefu] routing events", err); // the timeline just lacks them
  }
}

// --- Queue -----------------------------------------------------------------------------------

function waitText(iso) {
  const minutes = Math.max(0, Math.floor((Date.now() - time(iso)) / 60000));
  return minutes < 1 ? gettext("just now") : fmt(gettext("%s min"), [minutes]);
}

export function queueChanged(entries, total) {
  queue = entries;
  queueTotal = total;
  renderQueue();
}

export async function loadQueue() {
  try {
    const data = await api(`${API}/queue/`, true);
    const entries = Array.isArray(data) ? data : data.queue || data.results || [];
    queueChanged(entries, Array.isArray(data) ? entries.length : data.total ?? data.count ?? entries.length);
  } catch (err) {
    console.warn("[kefu] queue", err); // queue.changed fills it on the next change
  }
}

export function renderQueue() {
  ui.queueCount.textContent = String(queueTotal);
  ui.queueEmpty.hidden = queue.length > 0;
  ui.queueList.replaceChildren(...queue.map((q) => {
    const team = q.team_id && teams.has(q.team_id) ? teams.get(q.team_id).name : "";
    const button = el("button", { type: "button", class: "claim", text: gettext("Claim") });
    button.dataset.id = q.conversation_id;
    button.disabled = claiming.has(q.conversation_id);
    const li = el("li", { class: "queue-entry" + (q.priority > 0 ? " priority" : "") },
      el("span", { class: "queue-pos", text: String(q.position) }),
      el("span", { class: "queue-who" },
        el("span", { class: "queue-name", text: q.visitor_name }),
        el("span", { class: "queue-meta" },
          q.priority > 0 ? el("span", { class: "priority-mark", title: gettext("High priority"), text: "!" }) : null,
          el("span", { class: "queue-wait", title: dateTimeText(q.queued_at), text: waitText(q.queued_at) }),
          team ? el("span", { class: "queue-team", text: team }) : null,
        ),
      ),
      button,
    );
    li.dataset.id = q.conversation_id;
    return li;
  }));
}

// --- Actions: claim, transfer, status --------------------------------------------------------

function action(kind, frame) {
  if (!socket.ready) { notify(gettext("Not connected. Try again in a moment.")); return false; }
  actions.push({ kind, id: frame.conversation_id, at: Date.now() });
  send(frame);
  return true;
}

export function actionDone(conversationId) {
  for (let i = actions.length - 1; i >= 0; i--) if (actions[i].id === conversationId) actions.splice(i, 1);
}

// A new socket: answers to a dead socket's actions will not come.
export function forgetActions() {
  actions.length = 0;
}

// An `error` without `ref`: the refusal of the oldest routing action still waiting, if any.
export function actionRefused(frame) {
  while (actions.length && Date.now() - actions[0].at > ACTION_TIMEOUT_MS) actions.shift();
  const act = actions.shift();
  if (!act) return false;
  const text = REFUSED[frame.code] || frame.message;
  if (act.kind === "claim") {
    claiming.delete(act.id);
    renderQueue();
    const row = ui.queueList.querySelector(`li[data-id="${Number(act.id)}"]`);
    if (row) row.append(el("span", { class: "queue-error", role: "alert", text }));
  }
  if (act.kind === "transfer" && ui.dialog.open) {
    ui.transferError.textContent = text;
    ui.transferError.hidden = false;
  }
  notify(text);
  return true;
}

export function claim(id) {
  claiming.add(id);
  if (!action("claim", { type: "conversation.claim", conversation_id: id })) claiming.delete(id);
  renderQueue();
}

// A claim from this page settled: if it won, the conversation is ours, open it.
export function claimSettled(c) {
  if (!claiming.has(c.id) || c.assignee_id === null) return;
  claiming.delete(c.id);
  renderQueue();
  if (c.assignee_id === MY_ID) openConversation(c.id);
}

// Teams made or renamed since the socket said hello are only in the API: ask it, then show.
export async function openTransfer() {
  const c = conversations.get(state.openId);
  if (!c) return;
  try {
    const fresh = await api(`${API}/teams/`, true);
    teams.clear();
    (Array.isArray(fresh) ? fresh : fresh.results || []).forEach((t) => teams.set(t.id, t));
  } catch (err) {
    console.warn("[kefu] teams", err); // the teams from session.ready still serve
  }
  showTransfer(c);
}

function teamLabel(t) {
  const here = (t.member_ids || []).filter((id) => agents.get(id)?.status === "online").length;
  return fmt(gettext("%s — %s online"), [t.name, here]);
}

function showTransfer(c) {
  const order = { online: 0, away: 1, offline: 2 };
  const others = [...agents.values()].filter((a) => a.user_id !== c.assignee_id)
    .sort((a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name));
  ui.transferAgents.replaceChildren(...others.map((a) =>
    el("option", { value: `u:${a.user_id}`, text: `${a.name} — ${PRESENCE[a.status] || a.status}` })));
  ui.transferTeams.replaceChildren(...[...teams.values()].map((t) =>
    el("option", { value: `t:${t.id}`, text: teamLabel(t) })));
  ui.transferAgents.hidden = !others.length;
  ui.transferTeams.hidden = !teams.size;
  // A list box, not a drop-down: every colleague's status and every team at a glance.
  ui.transferTarget.size = Math.max(2, Math.min(10, others.length + teams.size + 2));
  ui.transferTarget.selectedIndex = 0;
  ui.transferNote.value = "";
  const nobody = !others.length && !teams.size;
  ui.transferError.textContent = nobody ? gettext("There is no other agent or team to transfer to.") : "";
  ui.transferError.hidden = !nobody;
  $("transfer-submit").disabled = nobody;
  ui.dialog.dataset.conversation = state.openId;
  ui.dialog.showModal();
}

export function submitTransfer() {
  const [kind, raw] = ui.transferTarget.value.split(":");
  const id = Number(ui.dialog.dataset.conversation);
  if (!raw) return;
  const frame = { type: "conversation.transfer", conversation_id: id, note: ui.transferNote.value.trim() };
  if (kind === "u") frame.to_user_id = Number(raw);
  else frame.to_team_id = Number(raw);
  ui.transferError.hidden = true;
  if (action("transfer", frame)) ui.dialog.dataset.pending = ui.transferTarget.value;
}

// The dialog closes once the server shows the transfer happened (or stays open with the error).
export function transferSettled(c) {
  const want = ui.dialog.dataset.pending;
  if (!ui.dialog.open || !want || Number(ui.dialog.dataset.conversation) !== c.id) return;
  const [kind, raw] = want.split(":");
  if (Number(raw) === (kind === "u" ? c.assignee_id : c.team_id)) {
    delete ui.dialog.dataset.pending;
    ui.dialog.close();
  }
}

export function setStatus() {
  if (state.openId === null) return;
  action("status", { type: "conversation.status", conversation_id: state.openId, status: ui.resolve.dataset.next });
}
