"""The routing timeline and who hears of a routing change: every decision of the router and of
the manual actions (services.assignment) is a RoutingEvent with its reason in the site language,
published to the merchant's agents after the commit; the queue and the visitors' places in it
are republished when it moves; apps above conversations are told when a conversation needs an
agent (signals.attention_needed). What is decided, and why, is conversations.routing's and
services.assignment's; this module only records and announces it.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from kefu.localized import Localized
from kefu.transactions import on_commit_robust

from . import events, protocol, realtime, selectors, system_lines
from .models import Conversation, RoutingEvent
from .selectors import QUEUE_ORDER, queue_position
from .signals import attention_needed

# How many queued visitors get live position updates per change (the rest get them when they
# move up into this window).
LIVE_POSITIONS = 1000

R_NOBODY = gettext_noop("nobody")


def say(msgid: str, **params) -> Localized:
    """A reason for the routing timeline: the site language's text (at most 300 chars, what
    is stored) that each agent reads again in their own language (kefu.localized)."""
    return Localized(msgid, params, limit=300)


def routing_event_publish(event: RoutingEvent) -> None:
    """Agents get `routing.event` after the commit, its reason in each socket's language."""
    spec = event.reason_i18n  # empty for a reason stored as plain text: shown as it is
    realtime.publish_on_commit(
        realtime.agents_group(event.merchant_id),
        protocol.RoutingEventFrame(event=selectors.routing_event_out(event)),
        texts={"event.reason": spec} if spec else None,
    )


def agent_label(merchant_id: int, user_id: int | None) -> str:
    """An agent's name for a reason text; "nobody" for no agent."""
    if user_id is None:
        return say(R_NOBODY)
    return selectors.agent_name(merchant_id=merchant_id, user_id=user_id)


# --- Publishing: the routing events and who hears of them (also used by services.assignment) ---


def routing_event_create(
    conversation: Conversation,
    kind: str,
    rule: str,
    reason: str,
    *,
    detail=None,
    from_user=None,
    to_user=None,
    team_id=None,
    actor=None,
) -> RoutingEvent:
    """Record a decision in the conversation's routing timeline; agents get `routing.event`
    after the commit."""
    event = RoutingEvent.objects.create(
        merchant_id=conversation.merchant_id,
        conversation=conversation,
        kind=kind,
        rule=rule,
        reason=str(reason)[:300],
        reason_i18n=reason.spec() if isinstance(reason, Localized) else {},
        detail=detail or {},
        from_user_id=from_user,
        to_user_id=to_user,
        team_id=team_id,
        actor_id=actor,
    )
    events.record_routing_event(event, conversation)
    routing_event_publish(event)
    # What the decision means to the visitor, as a stored line of their thread (after the
    # routing event, so agents read the reason first).
    system_lines.line_for_routing_event(event, conversation)
    return event


def conversation_changed(
    conversation: Conversation, *, queue_moved: bool, from_position: int = 1
) -> None:
    """After commit: agents get the new inbox row; if the queue moved, agents get the queue and
    everyone in it their new position. (The visitor hears only of what they see: their place in
    the queue, status and bot, through visitor_state_publish / publish_queue.)"""
    realtime.conversation_updated(conversation)
    if queue_moved:
        publish_queue_on_commit(conversation.merchant_id, from_position)


def publish_queue_on_commit(merchant_id: int, from_position: int = 1) -> None:
    on_commit_robust(publish_queue, merchant_id, from_position)


def publish_queue(merchant_id: int, from_position: int = 1) -> None:
    """Send agents `queue.changed` and the queued visitors from `from_position` on (up to
    LIVE_POSITIONS) their position and ETA; those ahead of a change keep their place. Runs after
    commit, outside any transaction."""
    realtime.publish_on_commit(
        realtime.agents_group(merchant_id), selectors.queue_frame(merchant_id=merchant_id)
    )
    start = max(from_position, 1) - 1
    rows = list(
        selectors.queued(merchant_id=merchant_id).order_by(*QUEUE_ORDER)[start:LIVE_POSITIONS]
    )
    per_slot = selectors.seconds_per_slot(merchant_id) if rows else 0.0
    for position, conversation in enumerate(rows, start + 1):
        conversation.queue_position = position
        conversation.estimated_wait_seconds = selectors.estimate_wait_seconds(position, per_slot)
        realtime.publish_on_commit(
            realtime.visitor_group(conversation.visitor_id),
            protocol.VisitorConversationStateFrame(
                conversation=realtime.visitor_conversation_out(conversation)
            ),
        )


def visitor_state_publish(conversation: Conversation) -> None:
    """The visitor's state changed (left the queue: position null; resolved; reopened; the bot
    handed over): all their tabs get `conversation.state` after the commit."""
    if conversation.queued_at is not None and getattr(conversation, "queue_position", None) is None:
        # Still queued: carry the place in the queue, or this frame (sent after publish_queue's)
        # would blank the position the visitor was just told.
        position = queue_position(conversation)
        if position is not None:
            conversation.queue_position = position
            conversation.estimated_wait_seconds = selectors.estimate_wait_seconds(
                position, selectors.seconds_per_slot(conversation.merchant_id)
            )
    realtime.publish_on_commit(
        realtime.visitor_group(conversation.visitor_id),
        protocol.VisitorConversationStateFrame(
            conversation=realtime.visitor_conversation_out(conversation)
        ),
    )


def notify_on_commit(
    merchant_id: int, conversation_id: int, reason: str, user_ids: list[int] | None = None
) -> None:
    on_commit_robust(
        attention_needed.send,
        sender=Conversation,
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        reason=reason,
        user_ids=user_ids,
    )
