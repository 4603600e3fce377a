"""Message writes: a visitor's, an agent's, the bot's, the leave-a-message form's, and read
state. Each stores through store.message_append; views, consumers and tasks call these."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation

from kefu.errors import KefuError, NotFound
from kefu.text import SURROGATE_MESSAGE, surrogate_in
from kefu.transactions import on_commit_robust
from knowledge import services as kb_services
from knowledge.sentiment import Sentiment
from knowledge.sentiment import analyze as sentiment_analyze
from merchants.models import Membership, Merchant, Team

from .. import protocol, realtime, selectors, signals, timeline
from ..models import Conversation, Message, Visitor
from . import rows
from .assignment import conversation_claim_locked
from .attachments import attachment_take
from .store import (
    Sender,
    conversation_lock,
    conversation_lock_first,
    conversation_start,
    message_append,
    message_append_many,
)


def clean_body(body: str, *, caption: bool = False) -> str:
    """The trimmed text of a message; `caption`: the text beside an attachment, may be empty."""
    body = (body or "").strip()
    if not body and caption:
        return body
    if not body:
        raise KefuError(protocol.ErrorCode.MESSAGE_EMPTY, "The message is empty.", field="body")
    if surrogate_in(body):
        # The socket and the API refuse these before; this is the rule for every other caller
        # (the database would refuse the row at INSERT).
        raise KefuError(protocol.ErrorCode.INVALID_FRAME, SURROGATE_MESSAGE, field="body")
    if len(body) > settings.MESSAGE_MAX_LENGTH:
        raise KefuError(
            protocol.ErrorCode.MESSAGE_TOO_LONG,
            f"The message is longer than {settings.MESSAGE_MAX_LENGTH} characters.",
            field="body",
        )
    return body


# --- Messages ---------------------------------------------------------------------------------


def refuse_if_blocked(visitor: Visitor) -> None:
    """A blocked visitor writes nothing (read under the visitor row lock the caller holds, so a
    block committed before is always seen)."""
    if visitor.blocked_at is not None:
        raise KefuError(protocol.ErrorCode.VISITOR_BLOCKED, "This chat is closed.")


def _existing(
    conversation: Conversation,
    sender: Sender,
    client_msg_id: str,
    body: str,
    attachment_id: int | None = None,
):
    """The retried message, if this sender already used `client_msg_id` in `conversation`."""
    # With its attachment: the ack of a retry renders it, in the socket's event loop.
    message = (
        Message.objects.filter(
            conversation=conversation, sender_key=sender.key, client_msg_id=client_msg_id
        )
        .select_related("attachment")
        .first()
    )
    if message is not None and (
        message.body != body
        or (
            (attachment_id is not None or message.kind != Message.Kind.TEXT)
            and getattr(getattr(message, "attachment", None), "pk", None) != attachment_id
        )
    ):
        # Same id, other text: a client bug or a replay; never overwrite what was stored.
        raise KefuError(
            protocol.ErrorCode.CLIENT_MSG_ID_CONFLICT,
            "This client_msg_id was already used for a different message.",
            field="client_msg_id",
        )
    return message


def message_send_by_visitor(
    *,
    merchant_id: int,
    visitor_id: int,
    client_msg_id: str,
    body: str,
    team_id: int | None = None,
    source: str = Conversation.Source.CHAT,
    attachment_id: int | None = None,
) -> tuple[Message, bool]:
    """Store a visitor message in their current conversation (starting one if needed).
    `attachment_id`: one of this visitor's uploads, carried by the message (body: a caption).

    Returns (message, created); a retried `client_msg_id` returns the original with False.
    After the commit the post-commit step (conversations.pipeline: the bot, then the router)
    looks at the new message, unless neither has work (needs_bot_or_router); the message is
    stored and acknowledged whatever they do.
    """
    body = clean_body(body, caption=attachment_id is not None)
    # Pure CPU and outside the transaction, so no lock is held while it runs.
    sentiment = sentiment_analyze(body) if body else None
    with transaction.atomic():
        message, created, needs_pipeline = _store_visitor_message(
            merchant_id=merchant_id,
            visitor_id=visitor_id,
            client_msg_id=client_msg_id,
            body=body,
            sentiment=sentiment,
            team_id=team_id,
            source=source,
            attachment_id=attachment_id,
        )
        if needs_pipeline:
            _pipeline_on_commit(merchant_id, message.conversation_id)
    return message, created


def _pipeline_on_commit(merchant_id: int, conversation_id: int) -> None:
    """Tell the post-commit step (conversations.pipeline, via the signal) after the commit."""
    on_commit_robust(
        signals.visitor_message_stored.send,
        sender=Message,
        merchant_id=merchant_id,
        conversation_id=conversation_id,
    )


def message_send_by_visitor_batch(sends: list[dict]) -> list:
    """Several visitors' `message_send_by_visitor(**send)` in one transaction and one commit
    (conversations.batching groups the sends of one process). Returns, in the order of
    `sends`, each send's (message, created) or the KefuError it raised.

    The sends to ongoing conversations are written together, in a few statements for all of
    them (_store_visitor_messages_together); each of the others runs in its own savepoint, so a
    refused send changes nothing and the others are stored. Sends are applied in visitor-id
    order (stable, so a visitor's own sends keep their order): every batch takes the visitor
    rows, then the conversation rows, each in id order, and two batches from two processes
    cannot deadlock on them. Any other error aborts the whole batch and nothing of it is
    stored; the caller then retries each send alone.
    """
    results: list = [None] * len(sends)
    ready = []
    for index, send in enumerate(sends):
        try:
            body = clean_body(send["body"], caption=send.get("attachment_id") is not None)
        except KefuError as exc:
            results[index] = exc
            continue
        # Pure CPU and outside the transaction, as in message_send_by_visitor.
        ready.append((index, send, body, sentiment_analyze(body) if body else None))
    ready.sort(key=lambda item: item[1]["visitor_id"])
    with transaction.atomic():
        ready = _store_visitor_messages_together(ready, results)
        for index, send, body, sentiment in ready:
            merchant_id = send["merchant_id"]
            try:
                with transaction.atomic():
                    message, created, needs_pipeline = _store_visitor_message(
                        merchant_id=merchant_id,
                        visitor_id=send["visitor_id"],
                        client_msg_id=send["client_msg_id"],
                        body=body,
                        sentiment=sentiment,
                        team_id=send.get("team_id"),
                        source=send.get("source", Conversation.Source.CHAT),
                        attachment_id=send.get("attachment_id"),
                    )
                    if needs_pipeline:
                        _pipeline_on_commit(merchant_id, message.conversation_id)
            except KefuError as exc:
                results[index] = exc
                continue
            results[index] = (message, created)
    return results


def _store_visitor_messages_together(ready: list, results: list) -> list:
    """The batch's common case in a few statements for all its sends (inside the batch's
    transaction): one lock query for all its visitors, then one for all their open
    conversations, then store.message_append_many. Returns the sends left for the per-message
    path, whole visitors at a time so each visitor's sends keep their order: a visitor without
    an open conversation (it starts or reopens one), gone, blocked or of another merchant, an
    attachment, an id used twice in the batch; and every send when one hits the unique key (a
    retry of a stored message, answered there with the original).

    Locks: all visitors in id order, then their conversations in id order. A path that locks a
    visitor locks it before its conversations (the per-message path too, which then finds its
    rows already held), so no two batches, and no batch and a per-message send, wait on each
    other in opposite orders (docs/routing.md, "Locks")."""
    if not ready or not connection.features.can_return_rows_from_bulk_insert:
        return ready
    visitor_ids = sorted({send["visitor_id"] for _, send, _, _ in ready})
    visitors = {v.pk: v for v in rows.visitors_lock(visitor_ids)}
    open_ = {}
    for conversation in rows.open_conversations_lock(list(visitors)):
        open_[conversation.visitor_id] = conversation  # the newest, as the per-message path
    alone = set()
    seen = set()
    for _, send, _, _ in ready:
        visitor = visitors.get(send["visitor_id"])
        conversation = open_.get(send["visitor_id"])
        if (
            visitor is None
            or visitor.merchant_id != send["merchant_id"]
            or visitor.blocked_at is not None
            or conversation is None
            or conversation.status == Conversation.Status.RESOLVED
            or send.get("attachment_id") is not None
            or (send["visitor_id"], send["client_msg_id"]) in seen
        ):
            alone.add(send["visitor_id"])
        seen.add((send["visitor_id"], send["client_msg_id"]))
    together = [item for item in ready if item[1]["visitor_id"] not in alone]
    if not together:
        return ready
    appends = []
    for _, send, body, sentiment in together:
        visitor = visitors[send["visitor_id"]]
        conversation = open_[visitor.pk]
        conversation.visitor = visitor
        appends.append(
            (
                conversation,
                Sender.visitor(visitor),
                body,
                send["client_msg_id"],
                sentiment,
                needs_bot_or_router(conversation, False, False),
            )
        )
    messages = message_append_many(appends)
    if messages is None:
        return ready
    stepped = set()
    for (index, send, _, _), message, append in zip(together, messages, appends):
        results[index] = (message, True)
        if append[5] and message.conversation_id not in stepped:
            stepped.add(message.conversation_id)
            _pipeline_on_commit(send["merchant_id"], message.conversation_id)
    return [item for item in ready if item[1]["visitor_id"] in alone]


def needs_bot_or_router(conversation: Conversation, started: bool, reopened: bool) -> bool:
    """False when neither the bot nor the router has anything to do: an ongoing conversation
    the bot does not own that is already assigned or queued. Seen under the row lock, so it is
    the state at commit; whoever changes it later routes it then. Saves the hot path two
    queries and a transaction per visitor message. Such a message moves the step's pointer at
    once when nothing waits before it (message_append), so the sweep never runs the step for it."""
    if started or reopened or conversation.bot_active:
        return True
    return conversation.assignee_id is None and conversation.queued_at is None


def _store_visitor_message(
    *,
    merchant_id: int,
    visitor_id: int,
    client_msg_id: str,
    body: str,
    sentiment: Sentiment | None,
    team_id: int | None,
    source: str,
    attachment_id: int | None = None,
) -> tuple[Message, bool, bool]:
    """(message, created, needs the post-commit step)."""
    started = reopened = False
    # Lock the visitor first: two first messages racing from two tabs must not start two
    # conversations. The agent path locks only the conversation, so the order cannot deadlock.
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    refuse_if_blocked(visitor)
    conversation = conversation_lock_first(
        Conversation.objects.filter(merchant_id=merchant_id, visitor=visitor)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-id")
    )
    sender = Sender.visitor(visitor)
    if conversation is None:
        team = None
        if team_id is not None:
            # A team id from the page is a hint: unknown or foreign ids are ignored.
            team = Team.objects.filter(merchant_id=merchant_id, pk=team_id, is_active=True).first()
        conversation = conversation_start(
            merchant_id=merchant_id, visitor=visitor, team=team, source=source
        )
        started = True
    else:
        existing = _existing(conversation, sender, client_msg_id, body, attachment_id)
        if existing is not None:
            return existing, False, False
        if conversation.status == Conversation.Status.RESOLVED:
            # A visitor writing again reopens the conversation instead of starting a new one.
            conversation.status = Conversation.Status.OPEN
            conversation.resolved_at = None
            reopened = True
            # The step reads "reopened" from here (the router records it and routes again).
            conversation.pipeline_reopened_seq = conversation.last_seq + 1
    conversation.visitor = visitor
    attachment = None
    if attachment_id is not None:
        # The upload belongs to the visitor, not the shared sender key "visitor".
        attachment = attachment_take(
            conversation=conversation,
            attachment_id=attachment_id,
            uploader_key=f"visitor:{visitor.pk}",
        )
    needs_pipeline = needs_bot_or_router(conversation, started, reopened)
    message = message_append(
        conversation=conversation,
        sender=sender,
        body=body,
        client_msg_id=client_msg_id,
        sentiment=sentiment,
        needs_pipeline=needs_pipeline,
        attachment=attachment,
    )
    return message, True, needs_pipeline


@transaction.atomic
def message_send_by_agent(
    *,
    merchant_id: int,
    conversation_id: int,
    sender: Sender,
    client_msg_id: str | None,
    body: str,
    private: bool = False,
    attachment_id: int | None = None,
) -> tuple[Message, bool]:
    """Store an agent (or API) reply or private note. Returns (message, created).
    `attachment_id`: one of this sender's uploads into this conversation (body: a caption)."""
    body = clean_body(body, caption=attachment_id is not None)
    conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
    if client_msg_id:
        existing = _existing(conversation, sender, client_msg_id, body, attachment_id)
        if existing is not None:
            return existing, False
    if conversation.status == Conversation.Status.CLOSED:
        raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
    if not private and sender.user_id and conversation.assignee_id is None:
        # Answering an unassigned or queued conversation claims it.
        membership = Membership.objects.filter(
            merchant_id=merchant_id, user_id=sender.user_id, is_active=True
        ).first()
        if membership is not None:
            conversation_claim_locked(conversation, membership=membership, rule="reply")
    attachment = None
    if attachment_id is not None:
        attachment = attachment_take(
            conversation=conversation, attachment_id=attachment_id, uploader_key=sender.key
        )
    message = message_append(
        conversation=conversation,
        sender=sender,
        body=body,
        client_msg_id=client_msg_id,
        private=private,
        attachment=attachment,
    )
    if not private and conversation.handed_over_at is not None:
        # Learning from agents: the bot handed this conversation over; if the reply is an FAQ
        # answer, the visitor's unanswered wording is suggested as its similar question.
        on_commit_robust(
            kb_services.gap_suggest_schedule,
            merchant_id=merchant_id,
            conversation_id=conversation.pk,
            text=body,
        )
    return message, True


def bot_name(merchant: Merchant) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return merchant.bot_name or translation.gettext("Assistant")


@transaction.atomic
def message_send_by_bot(
    *,
    merchant_id: int,
    conversation_id: int,
    body: str,
    meta: dict | None = None,
    note: bool = False,
) -> Message:
    """Store the knowledge-base bot's answer (sender kind bot) through the same path as agents'
    replies, so it is sequenced, published after commit and replayed like theirs. `note`: a
    private system note for agents instead (the hand-over summary). Bot text is the product's own
    and may be long (a transcript): it is cut to the message limit rather than refused."""
    body = (body or "").strip()[: settings.MESSAGE_MAX_LENGTH]
    if not body:
        raise KefuError(protocol.ErrorCode.MESSAGE_EMPTY, "The message is empty.", field="body")
    conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
    if conversation.status == Conversation.Status.CLOSED:
        raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
    name = bot_name(Merchant.objects.get(pk=merchant_id))
    if note:
        sender = Sender(kind=Message.SenderKind.SYSTEM, key="system", name=name)
    else:
        sender = Sender(kind=Message.SenderKind.BOT, key="bot", name=name)
    return message_append(
        conversation=conversation,
        sender=sender,
        body=body,
        client_msg_id=None,
        private=note,
        meta=meta,
    )


# --- Read state -------------------------------------------------------------------------------


@transaction.atomic
def conversation_mark_read_by_agent(
    *, merchant_id: int, conversation_id: int, seq: int, user_id: int | None = None
) -> Conversation:
    """Agents share one read position per conversation (a team inbox): any agent reading it
    clears the unread count for all."""
    conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
    seq = min(seq, conversation.last_seq)
    if seq <= conversation.agent_last_read_seq:
        return conversation
    conversation.agent_last_read_seq = seq
    conversation.unread_agent_count = Message.objects.filter(
        conversation=conversation, seq__gt=seq, sender_kind=Message.SenderKind.VISITOR
    ).count()
    conversation.save(update_fields=["agent_last_read_seq", "unread_agent_count"])
    realtime.conversation_updated(conversation)
    realtime.conversation_read(conversation, reader="agent", seq=seq, user_id=user_id)
    return conversation


@transaction.atomic
def conversation_mark_read_by_visitor(
    *, merchant_id: int, visitor_id: int, conversation_id: int | None, seq: int
) -> Conversation:
    qs = Conversation.objects.filter(merchant_id=merchant_id, visitor_id=visitor_id)
    if conversation_id:
        # By primary key already: one locking read (the `read` frame comes with every message
        # the visitor sees).
        conversation = qs.select_for_update().filter(pk=conversation_id).first()
    else:
        conversation = conversation_lock_first(qs.order_by("-id")[:1])
    if conversation is None:
        raise NotFound("Conversation not found.")
    seq = min(seq, conversation.last_seq)
    if seq > conversation.visitor_last_read_seq:
        conversation.visitor_last_read_seq = seq
        conversation.unread_visitor_count = (
            Message.objects.filter(conversation=conversation, seq__gt=seq, is_private=False)
            .exclude(sender_kind=Message.SenderKind.VISITOR)
            .exclude(kind=Message.Kind.EVENT)  # system lines are not unread replies
            .count()
        )
        conversation.save(update_fields=["visitor_last_read_seq", "unread_visitor_count"])
        realtime.conversation_read(conversation, reader="visitor", seq=seq)
    return conversation


# --- Offline messages (widget leave-a-message form) -----------------------------------------------

# Reasons of the OFFLINE routing event, rendered in the site language like the router's.
R_OFFLINE_CLOSED = translation.gettext_noop("left a message outside business hours")
R_OFFLINE_NOBODY = translation.gettext_noop("left a message: no agent online")
R_OFFLINE = translation.gettext_noop("left a message")
# The form is anonymous (any page can bootstrap a token): a bound on what one visitor can leave,
# since every message notifies agents and may escalate by SMS.
OFFLINE_MESSAGES_PER_HOUR = 10


def offline_message_create(
    *,
    merchant_id: int,
    visitor_id: int,
    name: str,
    email: str = "",
    phone: str = "",
    body: str,
    client_msg_id: str | None = None,
) -> tuple[Message, bool]:
    """Store what a visitor left in the leave-a-message form: their name and contact on the
    visitor, the message as a visitor message of an `offline_form` conversation (or of their
    current one), an OFFLINE routing event saying why, and a notification to agents after the
    commit. The router then assigns or queues it like any chat. Returns (message, created); a
    retried `client_msg_id` returns the stored message and records nothing again."""
    import secrets
    from datetime import timedelta

    from merchants import hours

    from ..models import RoutingEvent

    body = clean_body(body)
    merchant = Merchant.objects.get(pk=merchant_id)
    # Read before the transaction: presence is a network round trip, no lock should wait on it.
    if not hours.is_open(merchant):
        reason = R_OFFLINE_CLOSED
    elif not selectors.merchant_agents_online(merchant_id=merchant_id):
        reason = R_OFFLINE_NOBODY
    else:
        reason = R_OFFLINE
    contact = {"email": email} if email else {"phone": phone}
    # One transaction for the contact details, the message and the OFFLINE event, so the event
    # is in the timeline before whatever the router decides after the commit. The price: the
    # visitor row stays locked while message_send_by_visitor scores the sentiment of this one
    # message, which only this visitor's own writes wait for.
    with transaction.atomic():
        # The visitor row first, as message_send_by_visitor does: the same lock order.
        try:
            visitor = Visitor.objects.select_for_update().get(
                merchant_id=merchant_id, pk=visitor_id
            )
        except Visitor.DoesNotExist:
            raise NotFound("Visitor not found.") from None
        refuse_if_blocked(visitor)
        recent = RoutingEvent.objects.filter(
            merchant_id=merchant_id,
            conversation__visitor_id=visitor_id,
            kind=RoutingEvent.Kind.OFFLINE,
            created_at__gte=timezone.now() - timedelta(hours=1),
        ).count()
        if recent >= OFFLINE_MESSAGES_PER_HOUR and not (
            client_msg_id
            and Message.objects.filter(
                merchant_id=merchant_id,
                conversation__visitor_id=visitor_id,
                sender_key="visitor",
                client_msg_id=client_msg_id,
            ).exists()
        ):
            raise KefuError(
                protocol.ErrorCode.RATE_LIMITED, "Too many messages left; try again later."
            )
        changed = {"name": name[:200], **contact}
        changed = {k: v for k, v in changed.items() if v and getattr(visitor, k) != v}
        if changed:
            for field, value in changed.items():
                setattr(visitor, field, value)
            visitor.save(update_fields=list(changed))
            realtime.visitor_updated(visitor)
        message, created = message_send_by_visitor(
            merchant_id=merchant_id,
            visitor_id=visitor_id,
            client_msg_id=client_msg_id or "offline-" + secrets.token_hex(8),
            body=body,
            source=Conversation.Source.OFFLINE_FORM,
        )
        if created:
            text = timeline.say(reason)
            event = RoutingEvent.objects.create(
                merchant_id=merchant_id,
                conversation_id=message.conversation_id,
                kind=RoutingEvent.Kind.OFFLINE,
                rule="offline_form",
                reason=str(text),
                reason_i18n=text.spec(),
                detail={"message_id": message.pk, "contact": next(iter(contact))},
            )
            timeline.routing_event_publish(event)
            on_commit_robust(
                signals.attention_needed.send,
                sender=Conversation,
                merchant_id=merchant_id,
                conversation_id=message.conversation_id,
                reason="offline",
                user_ids=None,
            )
    return message, created
