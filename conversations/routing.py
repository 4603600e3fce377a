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
