"""Conversations started through the API: on behalf of a visitor (their message, as if sent
from the widget) or outbound (an agent or the merchant's integration writes first)."""

from __future__ import annotations

from django.db import transaction

from kefu.errors import NotFound
from merchants.models import Membership

from .. import events
from ..models import Conversation, Message, Visitor
from .assignment import conversation_claim_locked
from .messages import clean_body, message_send_by_agent
from .store import Sender, message_append


@transaction.atomic
def conversation_start_outbound(
    *,
    merchant_id: int,
    visitor_id: int,
    sender: Sender,
    body: str,
    client_msg_id: str | None,
) -> tuple[Conversation, Message, bool]:
    """Write to a visitor first. An open or pending conversation of theirs gets the message;
    otherwise (none, or the last one resolved or closed) a new conversation with source `api`
    is started. An agent sender takes an unassigned conversation (as a reply does); a token
    writing in its own name leaves it for the router, which acts when the visitor answers.
    Returns (conversation, message, started); a retried `client_msg_id` returns the stored
    message and changes nothing."""
    body = clean_body(body)
    # The visitor row first, then the conversation: the visitor path's lock order.
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    conversation = (
        Conversation.objects.select_for_update()
        .filter(
            merchant_id=merchant_id,
            visitor=visitor,
            status__in=[Conversation.Status.OPEN, Conversation.Status.PENDING],
        )
        .order_by("-id")
        .first()
    )
    if conversation is not None:
        # An ongoing conversation: the agent path as it is (idempotency, claim on reply).
        message, _created = message_send_by_agent(
            merchant_id=merchant_id,
            conversation_id=conversation.pk,
            sender=sender,
            client_msg_id=client_msg_id,
            body=body,
        )
        return message.conversation, message, False
    conversation = Conversation.objects.create(
        merchant_id=merchant_id, visitor=visitor, source=Conversation.Source.API
    )
    events.record_event(
        events.Kind.CONVERSATION_CREATED,
        merchant_id=merchant_id,
        conversation=conversation,
        actor_id=sender.user_id,
        data={"source": Conversation.Source.API, "team_id": None, "outbound": True},
        at=conversation.created_at,
    )
    conversation.visitor = visitor
    if sender.user_id:
        membership = Membership.objects.filter(
            merchant_id=merchant_id, user_id=sender.user_id, is_active=True
        ).first()
        if membership is not None:
            conversation_claim_locked(conversation, membership=membership, rule="outbound")
    message = message_append(
        conversation=conversation, sender=sender, body=body, client_msg_id=client_msg_id
    )
    return conversation, message, True
