"""Manual routing actions: an agent or a manager claims, transfers, resolves or reopens a
conversation (socket frames, the API, the admin). They are a person's decision and may go past
an agent's capacity; only the router (conversations.routing) enforces it. Each action writes a
RoutingEvent saying who did what, and the router takes over where the action leaves a
conversation to routing (a transfer to a team, a reopen by nobody).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from kefu.errors import KefuError
from merchants.models import Membership, Team

from .. import protocol, realtime, routing, selectors, timeline
from ..models import Conversation, RoutingEvent
from .store import Sender, conversation_lock, message_append

Kind = RoutingEvent.Kind
ACTIVE = selectors.ACTIVE

# Reasons, as message ids: rendered in the site language when the action is taken.
R_CLAIMED = gettext_noop("claimed by %(agent)s")
R_CLAIMED_REPLY = gettext_noop("claimed by %(agent)s by replying")
R_TRANSFERRED = gettext_noop("transferred from %(from)s to %(to)s by %(actor)s")
R_TRANSFERRED_TEAM = gettext_noop("transferred to team %(team)s by %(actor)s")
R_RESOLVED = gettext_noop("resolved by %(actor)s")
R_REOPENED = gettext_noop("reopened by %(actor)s")
R_JOINED = gettext_noop("%(actor)s joined (supervisor): %(reason)s")


def _membership(merchant_id: int, user_id: int | None) -> Membership | None:
    if user_id is None:
        return None
    return Membership.objects.filter(
        merchant_id=merchant_id, user_id=user_id, is_active=True, user__is_active=True
    ).first()


def _give(conversation: Conversation, membership: Membership) -> bool:
    """Make `membership`'s agent the assignee of a locked conversation (claim, transfer, join);
    True if it was waiting in the queue."""
    was_queued = conversation.queued_at is not None
    conversation.assignee_id = membership.user_id
    conversation.assigned_at = timezone.now()
    conversation.queued_at = None
    conversation.routing_attempts = 0
    conversation.save(update_fields=["assignee", "assigned_at", "queued_at", "routing_attempts"])
    Membership.objects.filter(pk=membership.pk).update(last_assigned_at=conversation.assigned_at)
    return was_queued


def conversation_claim_locked(
    conversation: Conversation, *, membership: Membership, rule: str = "claim"
) -> None:
    """Give a locked, unassigned conversation to `membership`'s agent (a claim or a reply)."""
    position = (
        selectors.queue_position(conversation) if conversation.queued_at is not None else None
    )
    was_queued = _give(conversation, membership)
    reason = timeline.say(
        R_CLAIMED_REPLY if rule == "reply" else R_CLAIMED, agent=membership.display_name
    )
    timeline.routing_event_create(
        conversation,
        Kind.CLAIMED,
        rule,
        reason,
        to_user=membership.user_id,
        actor=membership.user_id,
        team_id=conversation.team_id,
    )
    # The visitor hears of it either way: the widget's header names the agent who joined.
    timeline.visitor_state_publish(conversation)
    if was_queued:
        timeline.publish_queue_on_commit(conversation.merchant_id, position or 1)


@realtime.publishing
def conversation_claim(*, merchant_id: int, conversation_id: int, user_id: int) -> Conversation:
    """An agent takes a queued or unassigned conversation; the loser of a race gets
    ALREADY_ASSIGNED."""
    with transaction.atomic():
        membership = _membership(merchant_id, user_id)
        if membership is None:
            raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
        # The row lock makes a second claimer wait here, then see the first one's assignee.
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.status not in ACTIVE:
            raise KefuError(
                protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is resolved or closed."
            )
        if conversation.assignee_id == user_id:
            return conversation
        if conversation.assignee_id is not None:
            raise KefuError(
                protocol.ErrorCode.ALREADY_ASSIGNED, "Someone else already has this conversation."
            )
        conversation_claim_locked(conversation, membership=membership)
        realtime.conversation_updated(conversation)
    return conversation


@realtime.publishing
def conversation_transfer(
    *,
    merchant_id: int,
    conversation_id: int,
    actor_user_id: int,
    to_user_id: int | None = None,
    to_team_id: int | None = None,
    note: str = "",
) -> Conversation:
    """Hand over to an agent or to a team's routing, with an optional note (private). Agents
    transfer their own conversations; owners and admins any (a reassignment)."""
    if (to_user_id is None) == (to_team_id is None):
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME,
            "Give either to_user_id or to_team_id.",
            field="to_user_id",
        )
    with transaction.atomic():
        actor = _membership(merchant_id, actor_user_id)
        if actor is None:
            raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.status == Conversation.Status.CLOSED:
            raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
        if conversation.assignee_id != actor.user_id and not actor.is_manager:
            raise KefuError(
                protocol.ErrorCode.FORBIDDEN,
                "Only owners and admins can reassign someone else's conversation.",
            )
        previous = conversation.assignee_id
        kind = Kind.TRANSFERRED if previous == actor.user_id else Kind.REASSIGNED
        note = (note or "").strip()
        if note:
            message_append(
                conversation=conversation,
                sender=Sender.agent(actor),
                body=note[:1000],
                client_msg_id=None,
                private=True,
            )
        if to_user_id is not None:
            target = _membership(merchant_id, to_user_id)
            if target is None:
                raise KefuError(
                    protocol.ErrorCode.AGENT_UNAVAILABLE,
                    "That agent cannot take conversations here.",
                    field="to_user_id",
                )
            was_queued = _give(conversation, target)
            timeline.routing_event_create(
                conversation,
                kind,
                "transfer",
                timeline.say(
                    R_TRANSFERRED,
                    **{
                        "from": timeline.agent_label(merchant_id, previous),
                        "to": target.display_name,
                        "actor": actor.display_name,
                    },
                ),
                from_user=previous,
                to_user=target.user_id,
                actor=actor.user_id,
                detail={"note": bool(note)},
            )
            if target.user_id != actor.user_id:
                timeline.notify_on_commit(merchant_id, conversation.pk, "new", [target.user_id])
            timeline.conversation_changed(conversation, queue_moved=was_queued)
            # The visitor's header and thread say who has the chat now.
            timeline.visitor_state_publish(conversation)
        else:
            team = Team.objects.filter(
                merchant_id=merchant_id, pk=to_team_id, is_active=True
            ).first()
            if team is None:
                raise KefuError(
                    protocol.ErrorCode.AGENT_UNAVAILABLE, "No such team.", field="to_team_id"
                )
            conversation.team = team
            conversation.save(update_fields=["team"])
            timeline.routing_event_create(
                conversation,
                kind,
                "transfer_team",
                timeline.say(R_TRANSFERRED_TEAM, team=team.name, actor=actor.display_name),
                from_user=previous,
                team_id=team.pk,
                actor=actor.user_id,
                detail={"note": bool(note)},
            )
            conversation.assignee_id = None
            conversation.routing_attempts = 0
            if conversation.status in ACTIVE:
                # The team's routing decides; the agents handing it on are not candidates.
                routing.route_or_queue(
                    conversation,
                    exclude=frozenset({previous, actor.user_id}),
                    sticky=False,
                    actor=actor.user_id,
                )
            else:
                conversation.save(update_fields=["assignee", "routing_attempts"])
                timeline.conversation_changed(conversation, queue_moved=False)
        if previous is not None:
            # The previous agent has a free slot now.
            routing.queue_drain_on_commit(merchant_id)
    return conversation


@realtime.publishing
def conversation_set_status(
    *, merchant_id: int, conversation_id: int, actor_user_id: int | None, status: str
) -> Conversation:
    """Resolve (frees capacity, drains the queue) or reopen (routes again, sticky)."""
    if status not in (Conversation.Status.OPEN, Conversation.Status.RESOLVED):
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME, "Status must be open or resolved.", field="status"
        )
    with transaction.atomic():
        actor = _membership(merchant_id, actor_user_id) if actor_user_id is not None else None
        if actor_user_id is not None and actor is None:
            raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.status == Conversation.Status.CLOSED:
            raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
        name = actor.display_name if actor else timeline.say(timeline.R_NOBODY)
        if status == Conversation.Status.RESOLVED:
            if conversation.status == Conversation.Status.RESOLVED:
                return conversation
            routing.resolve_locked(
                conversation,
                rule="manual",
                reason=timeline.say(R_RESOLVED, actor=name),
                actor=actor_user_id,
            )
        else:
            if conversation.status in ACTIVE:
                return conversation
            previous = conversation.assignee_id
            conversation.status = Conversation.Status.OPEN
            conversation.resolved_at = None
            conversation.save(update_fields=["status", "resolved_at"])
            timeline.routing_event_create(
                conversation,
                Kind.REOPENED,
                "manual",
                timeline.say(R_REOPENED, actor=name),
                from_user=previous,
                actor=actor_user_id,
            )
            if actor is not None:
                # The agent who reopens it keeps it: they are about to write.
                conversation.assignee_id = None
                conversation_claim_locked(conversation, membership=actor, rule="reopen")
                timeline.conversation_changed(conversation, queue_moved=False)
            else:
                conversation.assignee_id = None
                conversation.routing_attempts = 0
                routing.route_or_queue(conversation, previous=previous)
            timeline.visitor_state_publish(conversation)
    return conversation


@realtime.publishing
def conversation_join(
    *, merchant_id: int, conversation_id: int, actor_user_id: int, reason: str
) -> Conversation:
    """A supervisor (owner or admin) takes over a live conversation: it is assigned to them,
    past their capacity if need be (a person's decision), and the routing timeline records
    who joined and why (rule `supervisor_join`). The agent who had it gets a free slot."""
    reason = " ".join((reason or "").split())[:200]
    if not reason:
        raise KefuError(protocol.ErrorCode.INVALID_FRAME, "Say why you join.", field="reason")
    with transaction.atomic():
        actor = _membership(merchant_id, actor_user_id)
        if actor is None or not actor.is_manager:
            raise KefuError(
                protocol.ErrorCode.FORBIDDEN, "Only owners and admins can join a conversation."
            )
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.status not in ACTIVE:
            raise KefuError(
                protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is resolved or closed."
            )
        previous = conversation.assignee_id
        if previous == actor.user_id:
            return conversation
        was_queued = _give(conversation, actor)
        timeline.routing_event_create(
            conversation,
            Kind.REASSIGNED if previous is not None else Kind.CLAIMED,
            "supervisor_join",
            timeline.say(R_JOINED, actor=actor.display_name, reason=reason),
            from_user=previous,
            to_user=actor.user_id,
            actor=actor.user_id,
            detail={"reason": reason},
        )
        timeline.conversation_changed(conversation, queue_moved=was_queued)
        timeline.visitor_state_publish(conversation)
        if previous is not None:
            routing.queue_drain_on_commit(merchant_id)
    return conversation


def agent_connected(*, merchant_id: int, away: bool) -> int:
    """An agent's workspace socket connected (their presence is registered): unless they are
    away, they may take queued conversations now, so the router serves the queue. Returns how
    many conversations it assigned. (Coming back from away is merchants.services'
    membership_set_away, which sends capacity_freed.)"""
    if away:
        return 0
    return routing.queue_drain(merchant_id=merchant_id)
