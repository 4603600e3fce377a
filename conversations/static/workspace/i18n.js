/* Words of the workspace. gettext and interpolate come from Django's JavaScript catalogue
   (/jsi18n/, a classic deferred script the page loads before this module graph runs); the
   fallbacks keep the page usable without it. Called `gettext(...)` so makemessages finds them. */

export const gettext = window.gettext || ((s) => s);
export const fmt = window.interpolate || ((s, args) => s.replace(/%s/g, () => args.shift()));

// Dates and times in the page's language (the agent's choice), not the browser's: a Chinese
// workspace on an English browser read "04:13 PM".
export const LOCALE = document.documentElement.lang || undefined;
export const dateTimeText = (iso) => new Date(iso).toLocaleString(LOCALE);

export const STATUS = {
  open: gettext("Open"), pending: gettext("Pending"), resolved: gettext("Resolved"), closed: gettext("Closed"),
};
export const PRESENCE = { online: gettext("Online"), away: gettext("Away"), offline: gettext("Offline") };
export const SENTIMENT = {
  positive: gettext("Positive"), neutral: gettext("Neutral"), negative: gettext("Negative"),
};
// Routing event kinds (conversations.models.RoutingEvent.Kind); the reason sentence comes
// from the server, already in this agent's language (kefu/localized.py).
export const ROUTING = {
  assigned: gettext("Assigned"), queued: gettext("Queued"), claimed: gettext("Claimed"),
  transferred: gettext("Transferred"), reassigned: gettext("Reassigned"),
  timeout: gettext("Acceptance timeout"), resolved: gettext("Resolved"),
  reopened: gettext("Reopened"), handover: gettext("Handed over by the bot"),
  offline: gettext("Left a message"),
};
// Refusals of the routing actions, said plainly (the server's message is for developers).
export const REFUSED = {
  already_assigned: gettext("Another agent already took this conversation."),
  forbidden: gettext("You are not allowed to do that with this conversation."),
  agent_unavailable: gettext("That agent or team cannot take the conversation right now."),
  not_found: gettext("This conversation no longer exists."),
};
