"""Routing: assignment, queue, timeouts, transfer. Placeholder until routing lands; the
signatures are the contract other modules call."""

from django.db import transaction

from .models import Conversation


def visitor_message_received(*, merchant_id: int, conversation_id: int, message_id: int,
                             started: bool, reopened: bool) -> None:
    """After a visitor message committed in a conversation the bot does not own: assign,
    queue or leave it (already assigned), record why."""
    return None


@transaction.atomic
def conversation_handover(*, merchant_id: int, conversation_id: int, reason: str,
                          detail: dict | None = None) -> None:
    """The bot steps aside (visitor asked, low confidence, anger): clear bot_active, record a
    HANDOVER routing event with `reason`, then route like a new conversation."""
    Conversation.objects.filter(merchant_id=merchant_id, pk=conversation_id).update(bot_active=False)


# --- Contract for agents' and supervisors' actions (R1 implements; consumers, the REST API and
# the admin call these). Each raises KefuError (protocol.ErrorCode.*) / NotFound on refusal.


def conversation_claim(*, merchant_id: int, conversation_id: int, user_id: int) -> Conversation:
    """An agent takes a queued or unassigned conversation; the loser of a race gets
    ALREADY_ASSIGNED."""
    raise NotImplementedError


def conversation_transfer(*, merchant_id: int, conversation_id: int, actor_user_id: int,
                          to_user_id: int | None = None, to_team_id: int | None = None,
                          note: str = "") -> Conversation:
    """Hand over to an agent or to a team's routing, with an optional note (private)."""
    raise NotImplementedError


def conversation_set_status(*, merchant_id: int, conversation_id: int,
                            actor_user_id: int | None, status: str) -> Conversation:
    """Resolve (frees capacity, drains the queue) or reopen."""
    raise NotImplementedError


def queue_drain(*, merchant_id: int) -> int:
    """Assign queued conversations oldest-first (priority first) while capacity allows; returns
    how many were assigned. Called when capacity frees or an agent comes online."""
    raise NotImplementedError


def queue_snapshot(*, merchant_id: int, limit: int = 100) -> tuple[list, int]:
    """(queued conversations in serving order with .queue_position set, total count)."""
    raise NotImplementedError
