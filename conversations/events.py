"""Domain events: every lifecycle fact of a conversation (created, assigned, transferred,
resolved, reopened, first reply, handed over, rated, labels changed, visitor identified) is a
ConversationEvent row written in the transaction that makes the change, and
signals.event_recorded is sent after the commit. Consumers above conversations (webhooks,
reports) read the rows; they never hook the services. The design: docs/architecture.md,
"Domain events".
"""

from __future__ import annotations

from django.utils import timezone

from kefu.transactions import on_commit_robust

from .models import Conversation, ConversationEvent, RoutingEvent
from .signals import event_recorded

Kind = ConversationEvent.Kind

# Routing decisions that are also lifecycle facts. Queue moves, acceptance timeouts and offline
# messages are routing detail only; a timeout's reassignment is its own "assigned" decision.
ROUTING_KINDS = {
    RoutingEvent.Kind.ASSIGNED: Kind.CONVERSATION_ASSIGNED,
    RoutingEvent.Kind.CLAIMED: Kind.CONVERSATION_ASSIGNED,
    RoutingEvent.Kind.TRANSFERRED: Kind.CONVERSATION_TRANSFERRED,
    RoutingEvent.Kind.REASSIGNED: Kind.CONVERSATION_TRANSFERRED,
    RoutingEvent.Kind.RESOLVED: Kind.CONVERSATION_RESOLVED,
    RoutingEvent.Kind.REOPENED: Kind.CONVERSATION_REOPENED,
    RoutingEvent.Kind.HANDOVER: Kind.HANDED_OVER,
}


def record_event(
    kind: str,
    *,
    merchant_id: int,
    conversation: Conversation | None = None,
    visitor_id: int | None = None,
    actor_id: int | None = None,
    data: dict | None = None,
    at=None,
) -> ConversationEvent:
    """Record a fact inside the caller's transaction; consumers hear of it after the commit."""
    event = ConversationEvent.objects.create(
        merchant_id=merchant_id,
        conversation=conversation,
        visitor_id=visitor_id
        if visitor_id is not None
        else getattr(conversation, "visitor_id", None),
        kind=kind,
        actor_id=actor_id,
        data=data or {},
        at=at or timezone.now(),
    )
    on_commit_robust(
        event_recorded.send,
        sender=ConversationEvent,
        merchant_id=merchant_id,
        event_id=event.pk,
        kind=kind,
    )
    return event


def record_routing_event(event: RoutingEvent, conversation: Conversation) -> None:
    """The lifecycle fact a routing decision is, if it is one (called by
    timeline.routing_event_create, the one place routing decisions are stored)."""
    kind = ROUTING_KINDS.get(event.kind)
    if kind is None:
        return
    data = {"rule": event.rule, "routing_event_id": event.pk}
    if event.to_user_id is not None:
        data["to_user_id"] = event.to_user_id
    if event.from_user_id is not None:
        data["from_user_id"] = event.from_user_id
    if event.team_id is not None:
        data["team_id"] = event.team_id
    if event.kind == RoutingEvent.Kind.HANDOVER:
        data["reason"] = event.detail.get("reason", "")
    record_event(
        kind,
        merchant_id=conversation.merchant_id,
        conversation=conversation,
        actor_id=event.actor_id,
        data=data,
        at=event.created_at,
    )
