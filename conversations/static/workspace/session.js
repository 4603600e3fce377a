/* The agent socket /ws/agent/<merchant>/ on the shared core (../realtime/socket.js), and the
   agent's own part of the rules for a client: catching up with `resume`.

   The socket delivers at most once, so messages are never trusted to have all arrived: every
   conversation whose messages the page holds is caught up with `resume` (from the highest seq
   it holds without a gap) after each (re)connect and whenever a gap shows. The database is the
   source of truth. */

import { createSocket } from "../realtime/socket.js";
import { el } from "./dom.js";
import { fmt, gettext } from "./i18n.js";
import { conversationUpdated, loadList } from "./inbox.js";
import { notification, notify } from "./notifications.js";
import { actionRefused, loadQueue, queueChanged, routingEvent, redrawEvents, forgetActions } from "./routing.js";
import { LOGIN_URL, MERCHANT, agents, conversations, readSent, state, teams, threads, ui, viewers, visitorRead } from "./state.js";
import { renderAgents, renderViewers, viewersChanged } from "./team.js";
import { markRead, receive, renderLoading, renderOpenHeader, renderTicks, scrollDown, threadLoaded } from "./thread.js";
import { agentTyped, fail, forgetTyping } from "./composer.js";
import { visitorDraft, visitorUpdated } from "./visitor.js";
import { renderTeams } from "./views.js";
import { conversationLabels, setLabels } from "./labels.js";
import { profileChanged } from "./profile.js";
import { liveFrame, liveReady } from "./live.js";

const GAP_CHECK_MS = 1500; // a seq gap lasting this long is filled with `resume`

const wanted = new Set(); // conversations to catch up with the next `resume`
let inFlight = null;      // the conversation ids of the `resume` awaiting resume.done
let gapTimer = null;

export const socket = createSocket({
  url: () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/agent/${MERCHANT}/`,
  ownKind: "agent",
  onConnecting() {
    setConn(socket.everReady ? "reconnecting" : "connecting", socket.everReady ? gettext("Reconnecting…") : gettext("Connecting…"));
  },
  onReady,
  onFrame: handle,
  onFailed: fail,
  onRefused: signedOut,
  onDropped(code, delay) {
    inFlight = null; // its history died with the socket; session.ready asks again
    forgetTyping(); // the server clears what the socket announced
    if (delay !== null) {
      setConn("reconnecting", fmt(gettext("Disconnected, reconnecting in %s s…"), [Math.ceil(delay / 1000)]));
    }
  },
});

export const send = (frame) => socket.send(frame);

export function setConn(kind, text) {
  ui.conn.className = `conn conn-${kind}`;
  ui.conn.textContent = text;
}

export function signedOut() {
  setConn("offline", gettext("Your session has ended. Sign in again."));
  socket.stop(); // never reconnect
  const link = el("a", { href: LOGIN_URL, text: gettext("Sign in") });
  ui.notice.replaceChildren(link);
  ui.notice.hidden = false;
}

function handle(frame) {
  if (liveFrame(frame)) return; // "Visitors now" and the supervisor screen (live.js)
  switch (frame.type) {
    case "message.created": receive(frame.message, true); break;
    case "history": frame.messages.forEach((m) => receive(m, false)); break;
    case "resume.done": resumeDone(); break;
    case "message.ack": receive(frame.message, false); break;
    case "conversation.updated": conversationUpdated(frame.conversation); break;
    case "queue.changed": queueChanged(frame.queue, frame.total); break;
    case "routing.event": routingEvent(frame.event); break;
    case "notification": notification(frame); break;
    case "conversation.read":
      if (frame.reader === "visitor" && frame.seq > (visitorRead.get(frame.conversation_id) || 0)) {
        visitorRead.set(frame.conversation_id, frame.seq);
        if (frame.conversation_id === state.openId) renderTicks();
      }
      break;
    case "typing":
      if (frame.sender_kind === "visitor") visitorDraft(frame.conversation_id, frame.active ? frame.text || "" : "");
      break; // other agents' typing shows through viewers.changed
    case "visitor.updated": visitorUpdated(frame.visitor); break;
    case "presence.changed":
      agents.set(frame.agent.user_id, frame.agent);
      renderAgents();
      break;
    case "viewers.changed": viewersChanged(frame); break;
    case "conversation.labels": conversationLabels(frame); break;
    case "labels.changed": setLabels(frame.labels); break;
    case "visitor.profile_changed": profileChanged(frame); break;
    case "error":
      // (Refusals of an outbox entry are the core's: they reach composer.fail.)
      if (!frame.ref && frame.code !== "rate_limited" && actionRefused(frame)) {
        // shown where the action was started
      } else if (frame.code === "rate_limited") {
        // Maybe the resume: ask again later (a second resume.done is harmless).
        const ids = inFlight;
        if (ids) setTimeout(() => { if (inFlight === ids) { inFlight = null; requestResume(ids); } }, (frame.retry_after || 1) * 1000);
      } else {
        notify(`${frame.message} (${frame.code})`);
      }
      break;
    default: break; // pong, and frames newer than this script
  }
}

function onReady(frame) {
  readSent.clear(); // a read sent on a socket that died may not have arrived
  setConn("online", gettext("Connected"));
  agents.clear();
  (frame.agents || []).forEach((a) => agents.set(a.user_id, a));
  renderAgents();
  teams.clear();
  (frame.teams || []).forEach((t) => teams.set(t.id, t));
  renderTeams(); // the inbox's team filter
  setLabels(frame.labels);
  redrawEvents();
  if (state.openId !== null) renderOpenHeader();
  forgetActions(); // answers to a dead socket's actions will not come
  loadQueue();
  viewers.clear(); // whoever had what open is told again as it changes
  renderViewers();
  // Whatever was delivered while we were away is lost; the database has it.
  inFlight = null;
  requestResume([...threads.keys()]);
  if (state.openId !== null) send({ type: "conversation.view", conversation_id: state.openId });
  loadList(); // the inbox rows
  socket.resend();
  markRead();
  agentTyped(); // still typing a reply: say so on the new socket
  liveReady();
}

// --- Catching up: resume ----------------------------------------------------------------------

export function requestResume(ids) {
  ids.forEach((id) => wanted.add(id));
  pump();
}

// One `resume` at a time: resume.done carries no id, so one in flight keeps it unambiguous.
function pump() {
  if (!socket.ready || inFlight || !wanted.size) return;
  const ids = [...wanted].filter((id) => threads.has(id)).slice(0, 200);
  wanted.clear();
  if (!ids.length) return;
  const after = {};
  for (const id of ids) after[id] = threads.get(id).messages.upTo;
  inFlight = ids;
  send({ type: "resume", conversations: after });
}

function resumeDone() {
  const ids = inFlight || [];
  inFlight = null;
  for (const id of ids) {
    const t = threads.get(id);
    if (t) t.loaded = true;
  }
  if (ids.includes(state.openId)) {
    renderLoading();
    scrollDown();
    threadLoaded(); // a search hit being shown
    markRead();
  }
  pump();
}

export function scheduleGapCheck() {
  if (!gapTimer) gapTimer = setTimeout(checkGaps, GAP_CHECK_MS);
}

// A later seq arrived (or the inbox row says there is one) but not the ones before it: a
// delivery was lost, or is merely late. If it is still missing now, fetch it from the database.
function checkGaps() {
  gapTimer = null;
  const behind = [];
  for (const [id, t] of threads) {
    if (!t.loaded || (inFlight && inFlight.includes(id))) continue;
    const c = conversations.get(id);
    if (t.messages.behind(c ? c.last_seq : 0)) behind.push(id);
  }
  if (behind.length) requestResume(behind);
}
