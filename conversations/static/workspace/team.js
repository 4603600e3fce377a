/* The team: presence of each agent (and this agent's own status), and who else has a
   conversation open or is typing in it. */

import { dot, el } from "./dom.js";
import { fmt, gettext, PRESENCE } from "./i18n.js";
import { renderList } from "./inbox.js";
import { MY_ID, agents, conversations, state, ui, viewers } from "./state.js";

export function agentName(userId) {
  const a = agents.get(userId);
  return a ? a.name : `#${userId}`;
}

export function renderAgents() {
  const order = { online: 0, away: 1, offline: 2 };
  const list = [...agents.values()].sort(
    (a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name),
  );
  ui.agents.replaceChildren(...list.map((a) => {
    const li = el("li", { class: `agent agent-${a.status}` + (a.user_id === MY_ID ? " me" : "") },
      dot(a.status, PRESENCE[a.status]),
      el("span", { class: "agent-name", text: a.name }),
      el("span", { class: "agent-status", text: PRESENCE[a.status] || a.status }),
    );
    li.dataset.userId = a.user_id;
    li.dataset.status = a.status;
    return li;
  }));
  const me = agents.get(MY_ID);
  if (me) ui.myStatus.value = me.status === "away" ? "away" : "online";
}

export function viewersChanged(frame) {
  const others = frame.viewers.filter((v) => v.user_id !== MY_ID);
  if (others.length) viewers.set(frame.conversation_id, others);
  else viewers.delete(frame.conversation_id);
  if (conversations.has(frame.conversation_id)) renderList();
  if (frame.conversation_id === state.openId) renderViewers();
}

export function renderViewers() {
  const others = viewers.get(state.openId) || [];
  ui.viewers.hidden = !others.length;
  ui.viewers.replaceChildren(
    el("span", { class: "viewers-label", text: gettext("Also viewing:") }),
    ...others.map((v) => {
      const span = el("span", { class: "viewer" + (v.typing ? " typing" : ""),
        text: v.typing ? fmt(gettext("%s (typing…)"), [v.name]) : v.name });
      span.dataset.userId = v.user_id;
      return span;
    }),
  );
}
