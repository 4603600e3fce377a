"""System lines: what the visitor's thread says about the conversation's lifecycle (the bot
handed over, an agent joined, the chat was transferred, the chat ended).

They are stored as messages (sender kind system, kind event) through store.message_append,
in the transaction of the routing decision they report, so each takes the next seq under the
conversation's row lock: a reload, a second tab, a resume from `last_seq` and the workspace all
show the same line at the same place, and a rolled-back decision leaves no line. The routing
timeline (timeline.routing_event_create, the one place decisions are stored) calls
`line_for_routing_event`. Clients draw the line from `meta` in their own language; `body` is
the line in the visitor's language (their widget's), for the transcript and API readers.
Agents' private notes are a different thing (is_private); a system line is never private.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext_noop

from kefu.text import supported_language

from . import selectors
from .models import Conversation, Message, RoutingEvent

HANDOVER = "handover"
JOINED = "joined"
TRANSFERRED = "transferred"
ENDED = "ended"

# The same words as the widget's strings (widget/strings.py, sys_*): one translation each.
TEXTS = {
    HANDOVER: gettext_noop("The assistant passed your conversation to our team."),
    JOINED: gettext_noop("%(agent)s joined the conversation."),
    TRANSFERRED: gettext_noop("Your conversation was transferred to %(agent)s."),
    ENDED: gettext_noop("The conversation has ended. Write again any time to reopen it."),
}

Kind = RoutingEvent.Kind
AGENT_KINDS = {Kind.ASSIGNED, Kind.CLAIMED, Kind.TRANSFERRED, Kind.REASSIGNED}
# How far back the last agent line is looked for (lines are few: a handful per conversation).
LOOKBACK = 20


def line_for_routing_event(event: RoutingEvent, conversation: Conversation) -> Message | None:
    """Store the line a routing decision means to the visitor, if any, in the caller's
    transaction (the caller holds the conversation's row lock: conversation_lock)."""
    if event.kind == Kind.HANDOVER:
        return line_append(conversation, HANDOVER)
    if event.kind == Kind.RESOLVED:
        return line_append(conversation, ENDED)
    if event.kind in AGENT_KINDS and event.rule == "invite":
        # A proactive invitation: the agent's own message opens the thread and the widget's
        # header names them; "X joined" above the invitation would be noise.
        return None
    if event.kind in AGENT_KINDS and event.to_user_id is not None:
        agent = selectors.agent_name(merchant_id=conversation.merchant_id, user_id=event.to_user_id)
        last = last_agent_line(conversation)
        if last is not None and last.get("system") != ENDED:
            if last.get("agent") == agent:
                return None  # the same person still has it (a reassignment to themselves)
            return line_append(conversation, TRANSFERRED, agent=agent)
        return line_append(conversation, JOINED, agent=agent)
    return None


def last_agent_line(conversation: Conversation) -> dict | None:
    """The meta of the newest joined/transferred/ended line: who the visitor was last told
    has the chat (an ended chat has nobody)."""
    metas = Message.objects.filter(
        conversation=conversation, kind=Message.Kind.EVENT, sender_kind=Message.SenderKind.SYSTEM
    ).order_by("-seq")[:LOOKBACK]
    for meta in metas.values_list("meta", flat=True):
        if (meta or {}).get("system") in (JOINED, TRANSFERRED, ENDED):
            return meta
    return None


def line_text(code: str, language: str, agent: str = "") -> str:
    with translation.override(language):
        text = translation.gettext(TEXTS[code])
    return text % {"agent": agent} if "%(agent)s" in TEXTS[code] else text


def line_append(conversation: Conversation, code: str, *, agent: str = "") -> Message:
    # Lazy: the services package imports the timeline that calls this module.
    from .services.store import Sender, message_append

    meta = {"system": code}
    if agent:
        meta["agent"] = agent
    return message_append(
        conversation=conversation,
        sender=Sender(kind=Message.SenderKind.SYSTEM, key="system", name=""),
        body=line_text(code, supported_language(conversation.visitor.language), agent),
        client_msg_id=None,
        kind=Message.Kind.EVENT,
        meta=meta,
    )
