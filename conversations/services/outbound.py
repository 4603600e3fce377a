"""Conversations started through the API: on behalf of a visitor (their message, as if sent
from the widget) or outbound (an agent or the merchant's integration writes first)."""

from __future__ import annotations

from django.db import transaction

from kefu.errors import KefuError, NotFound
from merchants.models import Membership

from .. import protocol, realtime, selectors
from ..models import Conversation, Message, Visitor
from .assignment import conversation_claim_locked
from .messages import clean_body, message_send_by_agent, refuse_if_blocked
from .store import Sender, conversation_lock_first, conversation_start, message_append


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
    conversation = conversation_lock_first(
        Conversation.objects.filter(
            merchant_id=merchant_id,
            visitor=visitor,
            status__in=[Conversation.Status.OPEN, Conversation.Status.PENDING],
        ).order_by("-id")
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
    conversation = conversation_start(
        merchant_id=merchant_id,
        visitor=visitor,
        source=Conversation.Source.API,
        actor_id=sender.user_id,
        outbound=True,
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


@realtime.publishing
@transaction.atomic
def visitor_invite(
    *, merchant_id: int, visitor_id: int, user_id: int, client_msg_id: str, body: str
) -> tuple[Message, bool]:
    """Proactive chat: an agent invites a visitor who is on the site. The message goes into the
    visitor's open or pending conversation, or starts one (source `chat`: it happens in the
    widget), which the agent takes (rule `invite`) unless another agent has it. It is stored
    like any agent message (seq, client_msg_id), with meta `invite` so the widget opens.
    Returns (message, created); a retried `client_msg_id` returns the stored message."""
    body = clean_body(body)
    membership = Membership.objects.filter(
        merchant_id=merchant_id, user_id=user_id, is_active=True, user__is_active=True
    ).first()
    if membership is None:
        raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
    sender = Sender.agent(membership)
    # The visitor row first, then the conversation: the visitor path's lock order, so an
    # invite and the visitor's own first message cannot start two conversations.
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    conversation = conversation_lock_first(
        Conversation.objects.filter(
            merchant_id=merchant_id, visitor=visitor, status__in=selectors.ACTIVE
        ).order_by("-id")
    )
    if conversation is not None:
        stored = Message.objects.filter(
            conversation=conversation, sender_key=sender.key, client_msg_id=client_msg_id
        ).first()
        if stored is not None:
            if stored.body != body:
                raise KefuError(
                    protocol.ErrorCode.CLIENT_MSG_ID_CONFLICT,
                    "This client_msg_id was already used for a different message.",
                    field="client_msg_id",
                )
            return stored, False
    refuse_if_blocked(visitor)
    if conversation is None:
        conversation = conversation_start(
            merchant_id=merchant_id,
            visitor=visitor,
            source=Conversation.Source.CHAT,
            actor_id=user_id,
            invite=True,
        )
    elif conversation.assignee_id not in (None, user_id):
        raise KefuError(
            protocol.ErrorCode.ALREADY_ASSIGNED, "Another agent is already chatting with them."
        )
    conversation.visitor = visitor
    if conversation.assignee_id is None:
        conversation_claim_locked(conversation, membership=membership, rule="invite")
    message = message_append(
        conversation=conversation,
        sender=sender,
        body=body,
        client_msg_id=client_msg_id,
        meta={"invite": True},
    )
    return message, True
