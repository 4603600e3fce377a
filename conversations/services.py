"""Writes for visitors, conversations and messages. Views, consumers and tasks call these;
nothing else writes these tables."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from kefu.errors import KefuError, NotFound
from kefu.transactions import on_commit_robust
from knowledge.sentiment import Sentiment
from knowledge.sentiment import analyze as sentiment_analyze
from merchants.models import ApiToken, Membership, Merchant, Team

from . import protocol, realtime, signals
from .models import Conversation, Message, Visitor, VisitorPageView

PREVIEW_LENGTH = 200
# Conversation.priority given by a strongly negative visitor message.
NEGATIVE_PRIORITY = 10


@dataclass(frozen=True)
class Sender:
    """Who writes a message. `key` is unique per sender within a conversation and scopes
    `client_msg_id` idempotency."""

    kind: str
    key: str
    name: str
    user_id: int | None = None

    @classmethod
    def visitor(cls, visitor: Visitor) -> "Sender":
        return cls(kind=Message.SenderKind.VISITOR, key="visitor", name=visitor.display_name)

    @classmethod
    def agent(cls, membership: Membership) -> "Sender":
        return cls(
            kind=Message.SenderKind.AGENT,
            key=f"agent:{membership.user_id}",
            name=membership.display_name,
            user_id=membership.user_id,
        )

    @classmethod
    def api_token(cls, token: ApiToken) -> "Sender":
        return cls(kind=Message.SenderKind.AGENT, key=f"api:{token.pk}", name=token.name)


def clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise KefuError(protocol.ErrorCode.MESSAGE_EMPTY, "The message is empty.", field="body")
    if len(body) > settings.MESSAGE_MAX_LENGTH:
        raise KefuError(
            protocol.ErrorCode.MESSAGE_TOO_LONG,
            f"The message is longer than {settings.MESSAGE_MAX_LENGTH} characters.",
            field="body",
        )
    return body


# --- Visitors ---------------------------------------------------------------------------------


def visitor_touch(
    *,
    merchant: Merchant,
    anonymous_id: str,
    ip: str | None = None,
    user_agent: str = "",
    page_url: str = "",
    page_title: str = "",
    identity: dict | None = None,
) -> Visitor:
    """Find or create the visitor behind a widget and record where they are now.

    `identity` (external_id, name, email, phone) is applied only when the caller has verified the
    merchant's signature over the external id.
    """
    now = timezone.now()
    fields = {
        "last_seen_at": now,
        "ip": ip,
        "user_agent": user_agent[:500],
        "page_url": page_url[:2000],
        "page_title": page_title[:500],
    }
    if identity:
        fields.update({k: v for k, v in identity.items() if v})
    visitor, _ = Visitor.objects.update_or_create(
        merchant=merchant, anonymous_id=anonymous_id, defaults=fields
    )
    return visitor


# --- Messages ---------------------------------------------------------------------------------


def _existing(conversation: Conversation, sender: Sender, client_msg_id: str, body: str):
    """The retried message, if this sender already used `client_msg_id` in `conversation`."""
    message = Message.objects.filter(
        conversation=conversation, sender_key=sender.key, client_msg_id=client_msg_id
    ).first()
    if message is not None and message.body != body:
        # Same id, other text: a client bug or a replay; never overwrite what was stored.
        raise KefuError(
            protocol.ErrorCode.CLIENT_MSG_ID_CONFLICT,
            "This client_msg_id was already used for a different message.",
            field="client_msg_id",
        )
    return message


def _append(
    *, conversation: Conversation, sender: Sender, body: str, client_msg_id: str | None,
    private: bool = False, kind: str = Message.Kind.TEXT, sentiment: Sentiment | None = None,
    meta: dict | None = None, needs_pipeline: bool = False,
) -> Message:
    """Store the next message of a conversation the caller holds the row lock on.
    `needs_pipeline`: a visitor message the post-commit step (conversations.pipeline) must see."""
    seq = conversation.last_seq + 1
    message = Message.objects.create(
        merchant_id=conversation.merchant_id,
        conversation=conversation,
        seq=seq,
        sender_kind=sender.kind,
        sender_user_id=sender.user_id,
        sender_key=sender.key,
        sender_name=sender.name[:100],
        body=body,
        kind=kind,
        client_msg_id=client_msg_id,
        is_private=private,
        sentiment_score=sentiment.score if sentiment else None,
        sentiment_label=sentiment.label if sentiment else "",
        meta=meta or {},
    )
    conversation.last_seq = seq
    # The step's pointer follows last_seq while nothing waits for the step, so a message that
    # needs none (an agent's, the bot's, a visitor's on the fast path) is never looked at again,
    # neither by the step nor by the sweep. Once something waits, the step moves it.
    if not needs_pipeline and conversation.pipeline_seq == seq - 1:
        conversation.pipeline_seq = seq
    elif conversation.pipeline_pending_since is None:
        conversation.pipeline_pending_since = message.created_at
    if not private:
        conversation.last_message_at = message.created_at
        conversation.last_message_preview = body[:PREVIEW_LENGTH]
        conversation.last_message_sender_kind = sender.kind
        if sender.kind == Message.SenderKind.VISITOR:
            conversation.unread_agent_count += 1
            if conversation.awaiting_reply_since is None:
                conversation.awaiting_reply_since = message.created_at
            if sentiment is not None and sentiment.strongly_negative:
                # An angry visitor is served first from the queue.
                conversation.priority = max(conversation.priority, NEGATIVE_PRIORITY)
        else:
            conversation.unread_visitor_count += 1
            if sender.kind == Message.SenderKind.AGENT:
                conversation.awaiting_reply_since = None
                if conversation.first_response_at is None:
                    conversation.first_response_at = message.created_at
    conversation.save(
        update_fields=[
            "last_seq", "last_message_at", "last_message_preview", "last_message_sender_kind",
            "unread_agent_count", "unread_visitor_count", "first_response_at", "status",
            "resolved_at", "assignee", "awaiting_reply_since", "priority", "team",
            "pipeline_seq", "pipeline_pending_since", "pipeline_reopened_seq",
        ]
    )
    realtime.message_created(message, conversation)
    if sender.kind != Message.SenderKind.VISITOR and not private and conversation.visitor.email:
        _schedule_reply_email(conversation)
    return message


def _schedule_reply_email(conversation: Conversation) -> None:
    delay = settings.VISITOR_REPLY_EMAIL_DELAY
    if delay <= 0:
        return
    from .tasks import visitor_reply_email

    # Queued after commit so the worker finds the row; the task re-checks read state itself.
    transaction.on_commit(
        lambda: visitor_reply_email.apply_async(
            kwargs={"merchant_id": conversation.merchant_id, "conversation_id": conversation.pk},
            countdown=delay,
        )
    )


def message_send_by_visitor(
    *, merchant_id: int, visitor_id: int, client_msg_id: str, body: str,
    team_id: int | None = None, source: str = Conversation.Source.CHAT,
) -> tuple[Message, bool]:
    """Store a visitor message in their current conversation (starting one if needed).

    Returns (message, created); a retried `client_msg_id` returns the original with False.
    After the commit the post-commit step (conversations.pipeline: the bot, then the router)
    looks at the new message, unless neither has work (_needs_bot_or_router); the message is
    stored and acknowledged whatever they do.
    """
    body = clean_body(body)
    # Pure CPU and outside the transaction, so no lock is held while it runs.
    sentiment = sentiment_analyze(body)
    with transaction.atomic():
        message, created, needs_pipeline = _store_visitor_message(
            merchant_id=merchant_id, visitor_id=visitor_id, client_msg_id=client_msg_id,
            body=body, sentiment=sentiment, team_id=team_id, source=source,
        )
        if needs_pipeline:
            _pipeline_on_commit(merchant_id, message.conversation_id)
    return message, created


def _pipeline_on_commit(merchant_id: int, conversation_id: int) -> None:
    """Tell the post-commit step (conversations.pipeline, via the signal) after the commit."""
    on_commit_robust(
        signals.visitor_message_stored.send, sender=Message, merchant_id=merchant_id,
        conversation_id=conversation_id,
    )


def message_send_by_visitor_batch(sends: list[dict]) -> list:
    """Several visitors' `message_send_by_visitor(**send)` in one transaction and one commit
    (conversations.batching groups the sends of one process). Returns, in the order of
    `sends`, each send's (message, created) or the KefuError it raised.

    Each send runs in its own savepoint, so a refused send changes nothing and the others are
    stored. Sends are applied in visitor-id order (stable, so a visitor's own sends keep their
    order): every batch takes the visitor and conversation row locks in the same order and two
    batches from two processes cannot deadlock on them. Any other error aborts the whole batch
    and nothing of it is stored; the caller then retries each send alone.
    """
    results: list = [None] * len(sends)
    ready = []
    for index, send in enumerate(sends):
        try:
            body = clean_body(send["body"])
        except KefuError as exc:
            results[index] = exc
            continue
        # Pure CPU and outside the transaction, as in message_send_by_visitor.
        ready.append((index, send, body, sentiment_analyze(body)))
    ready.sort(key=lambda item: item[1]["visitor_id"])
    with transaction.atomic():
        for index, send, body, sentiment in ready:
            merchant_id = send["merchant_id"]
            try:
                with transaction.atomic():
                    message, created, needs_pipeline = _store_visitor_message(
                        merchant_id=merchant_id, visitor_id=send["visitor_id"],
                        client_msg_id=send["client_msg_id"], body=body, sentiment=sentiment,
                        team_id=send.get("team_id"),
                        source=send.get("source", Conversation.Source.CHAT),
                    )
                    if needs_pipeline:
                        _pipeline_on_commit(merchant_id, message.conversation_id)
            except KefuError as exc:
                results[index] = exc
                continue
            results[index] = (message, created)
    return results


def _needs_bot_or_router(conversation: Conversation, started: bool, reopened: bool) -> bool:
    """False when neither the bot nor the router has anything to do: an ongoing conversation
    the bot does not own that is already assigned or queued. Seen under the row lock, so it is
    the state at commit; whoever changes it later routes it then. Saves the hot path two
    queries and a transaction per visitor message. Such a message moves the step's pointer at
    once when nothing waits before it (_append), so the sweep never runs the step for it."""
    if started or reopened or conversation.bot_active:
        return True
    return conversation.assignee_id is None and conversation.queued_at is None


def _store_visitor_message(
    *, merchant_id: int, visitor_id: int, client_msg_id: str, body: str,
    sentiment: Sentiment | None, team_id: int | None, source: str,
) -> tuple[Message, bool, bool]:
    """(message, created, needs the post-commit step)."""
    started = reopened = False
    # Lock the visitor first: two first messages racing from two tabs must not start two
    # conversations. The agent path locks only the conversation, so the order cannot deadlock.
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    conversation = (
        Conversation.objects.select_for_update()
        .filter(merchant_id=merchant_id, visitor=visitor)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-id")
        .first()
    )
    sender = Sender.visitor(visitor)
    if conversation is None:
        team = None
        if team_id is not None:
            # A team id from the page is a hint: unknown or foreign ids are ignored.
            team = Team.objects.filter(merchant_id=merchant_id, pk=team_id, is_active=True).first()
        conversation = Conversation.objects.create(
            merchant_id=merchant_id, visitor=visitor, team=team, source=source
        )
        started = True
    else:
        existing = _existing(conversation, sender, client_msg_id, body)
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
    needs_pipeline = _needs_bot_or_router(conversation, started, reopened)
    message = _append(
        conversation=conversation, sender=sender, body=body, client_msg_id=client_msg_id,
        sentiment=sentiment, needs_pipeline=needs_pipeline,
    )
    return message, True, needs_pipeline


def _lock_conversation(merchant_id: int, conversation_id: int) -> Conversation:
    try:
        conversation = Conversation.objects.select_for_update().get(
            merchant_id=merchant_id, pk=conversation_id
        )
    except Conversation.DoesNotExist:
        raise NotFound("Conversation not found.") from None
    # Loaded separately, not by select_related: FOR UPDATE over a join would lock the visitor
    # row too, in an order that could deadlock with the visitor path.
    conversation.visitor = Visitor.objects.get(pk=conversation.visitor_id)
    return conversation


@transaction.atomic
def message_send_by_agent(
    *, merchant_id: int, conversation_id: int, sender: Sender, client_msg_id: str | None,
    body: str, private: bool = False,
) -> tuple[Message, bool]:
    """Store an agent (or API) reply or private note. Returns (message, created)."""
    body = clean_body(body)
    conversation = _lock_conversation(merchant_id, conversation_id)
    if client_msg_id:
        existing = _existing(conversation, sender, client_msg_id, body)
        if existing is not None:
            return existing, False
    if conversation.status == Conversation.Status.CLOSED:
        raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
    if not private and sender.user_id and conversation.assignee_id is None:
        # Answering an unassigned or queued conversation claims it (conversations.routing).
        from . import routing

        membership = Membership.objects.filter(
            merchant_id=merchant_id, user_id=sender.user_id, is_active=True).first()
        if membership is not None:
            routing.claim_locked(conversation, membership=membership, rule="reply")
    message = _append(
        conversation=conversation, sender=sender, body=body, client_msg_id=client_msg_id,
        private=private,
    )
    return message, True


def bot_name(merchant: Merchant) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return merchant.bot_name or translation.gettext("Assistant")


@transaction.atomic
def message_send_by_bot(
    *, merchant_id: int, conversation_id: int, body: str, meta: dict | None = None,
    note: bool = False,
) -> Message:
    """Store the knowledge-base bot's answer (sender kind bot) through the same path as agents'
    replies, so it is sequenced, published after commit and replayed like theirs. `note`: a
    private system note for agents instead (the hand-over summary). Bot text is the product's own
    and may be long (a transcript): it is cut to the message limit rather than refused."""
    body = (body or "").strip()[:settings.MESSAGE_MAX_LENGTH]
    if not body:
        raise KefuError(protocol.ErrorCode.MESSAGE_EMPTY, "The message is empty.", field="body")
    conversation = _lock_conversation(merchant_id, conversation_id)
    if conversation.status == Conversation.Status.CLOSED:
        raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
    name = bot_name(Merchant.objects.get(pk=merchant_id))
    if note:
        sender = Sender(kind=Message.SenderKind.SYSTEM, key="system", name=name)
    else:
        sender = Sender(kind=Message.SenderKind.BOT, key="bot", name=name)
    return _append(
        conversation=conversation, sender=sender, body=body, client_msg_id=None, private=note,
        meta=meta,
    )


# --- Read state -------------------------------------------------------------------------------


@transaction.atomic
def conversation_mark_read_by_agent(
    *, merchant_id: int, conversation_id: int, seq: int, user_id: int | None = None
) -> Conversation:
    """Agents share one read position per conversation (a team inbox): any agent reading it
    clears the unread count for all."""
    conversation = _lock_conversation(merchant_id, conversation_id)
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
    qs = Conversation.objects.select_for_update().filter(merchant_id=merchant_id, visitor_id=visitor_id)
    conversation = (
        qs.filter(pk=conversation_id).first() if conversation_id else qs.order_by("-id").first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    seq = min(seq, conversation.last_seq)
    if seq > conversation.visitor_last_read_seq:
        conversation.visitor_last_read_seq = seq
        conversation.unread_visitor_count = (
            Message.objects.filter(conversation=conversation, seq__gt=seq, is_private=False)
            .exclude(sender_kind=Message.SenderKind.VISITOR)
            .count()
        )
        conversation.save(update_fields=["visitor_last_read_seq", "unread_visitor_count"])
        realtime.conversation_read(conversation, reader="visitor", seq=seq)
    return conversation


PAGE_TRAIL_LIMIT = 100


@transaction.atomic
def visitor_page_view(*, merchant_id: int, visitor_id: int, url: str, title: str) -> Visitor:
    """Record the page the visitor is on now and add it to their trail."""
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    url, title = url[:2000], title[:500]
    if (visitor.page_url, visitor.page_title) == (url, title):
        return visitor
    visitor.page_url, visitor.page_title = url, title
    visitor.last_seen_at = timezone.now()
    visitor.save(update_fields=["page_url", "page_title", "last_seen_at"])
    VisitorPageView.objects.create(merchant_id=merchant_id, visitor=visitor, url=url, title=title)
    # Keep the trail bounded: drop what is older than the newest PAGE_TRAIL_LIMIT rows.
    stale = list(
        VisitorPageView.objects.filter(merchant_id=merchant_id, visitor=visitor)
        .order_by("-viewed_at", "-id").values_list("id", flat=True)[PAGE_TRAIL_LIMIT:PAGE_TRAIL_LIMIT + 50]
    )
    if stale:
        VisitorPageView.objects.filter(pk__in=stale).delete()
    realtime.visitor_updated(visitor, online=True)
    return visitor


# --- Email ------------------------------------------------------------------------------------


def visitor_reply_email_send(*, merchant_id: int, conversation_id: int) -> int:
    """Email the visitor the replies they have not read and were not emailed yet.

    Safe to run late or twice: the conditional UPDATE claims the range of seqs, so two workers
    racing on the same conversation send it once.
    """
    conversation = (
        Conversation.objects.select_related("visitor", "merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if conversation is None or not conversation.visitor.email:
        return 0
    after = max(conversation.visitor_last_read_seq, conversation.visitor_emailed_seq)
    messages = list(
        Message.objects.filter(
            merchant_id=merchant_id, conversation_id=conversation_id, seq__gt=after,
            is_private=False,
        )
        .exclude(sender_kind=Message.SenderKind.VISITOR)
        .order_by("seq")
    )
    if not messages:
        return 0
    last = messages[-1].seq
    claimed = Conversation.objects.filter(
        pk=conversation_id, visitor_emailed_seq=conversation.visitor_emailed_seq,
        visitor_last_read_seq__lt=last,
    ).update(visitor_emailed_seq=last)
    if not claimed:
        return 0
    merchant = conversation.merchant
    context = {"merchant": merchant, "messages": messages, "chat_url": conversation.visitor.page_url}
    with translation.override(settings.LANGUAGE_CODE):
        subject = translation.gettext("New reply from %(merchant)s") % {"merchant": merchant.name}
        text = render_to_string("conversations/email/reply.txt", context)
        html = render_to_string("conversations/email/reply.html", context)
    email = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:150], body=text, to=[conversation.visitor.email]
    )
    email.attach_alternative(html, "text/html")
    email.send()
    return len(messages)


# --- Offline messages (widget leave-a-message form) -----------------------------------------------

# Reasons of the OFFLINE routing event, rendered in the site language like the router's.
R_OFFLINE_CLOSED = translation.gettext_noop("left a message outside business hours")
R_OFFLINE_NOBODY = translation.gettext_noop("left a message: no agent online")
R_OFFLINE = translation.gettext_noop("left a message")
# The form is anonymous (any page can bootstrap a token): a bound on what one visitor can leave,
# since every message notifies agents and may escalate by SMS.
OFFLINE_MESSAGES_PER_HOUR = 10


def offline_message_create(
    *, merchant_id: int, visitor_id: int, name: str, email: str = "", phone: str = "",
    body: str, client_msg_id: str | None = None,
) -> tuple[Message, bool]:
    """Store what a visitor left in the leave-a-message form: their name and contact on the
    visitor, the message as a visitor message of an `offline_form` conversation (or of their
    current one), an OFFLINE routing event saying why, and a notification to agents after the
    commit. The router then assigns or queues it like any chat. Returns (message, created); a
    retried `client_msg_id` returns the stored message and records nothing again."""
    import secrets
    from datetime import timedelta

    from merchants import hours

    from . import routing, selectors
    from .models import RoutingEvent

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
            visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
        except Visitor.DoesNotExist:
            raise NotFound("Visitor not found.") from None
        recent = RoutingEvent.objects.filter(
            merchant_id=merchant_id, conversation__visitor_id=visitor_id,
            kind=RoutingEvent.Kind.OFFLINE,
            created_at__gte=timezone.now() - timedelta(hours=1),
        ).count()
        if recent >= OFFLINE_MESSAGES_PER_HOUR and not (
            client_msg_id and Message.objects.filter(
                merchant_id=merchant_id, conversation__visitor_id=visitor_id,
                sender_key="visitor", client_msg_id=client_msg_id).exists()
        ):
            raise KefuError(protocol.ErrorCode.RATE_LIMITED,
                            "Too many messages left; try again later.")
        changed = {"name": name[:200], **contact}
        changed = {k: v for k, v in changed.items() if v and getattr(visitor, k) != v}
        if changed:
            for field, value in changed.items():
                setattr(visitor, field, value)
            visitor.save(update_fields=list(changed))
            realtime.visitor_updated(visitor)
        message, created = message_send_by_visitor(
            merchant_id=merchant_id, visitor_id=visitor_id,
            client_msg_id=client_msg_id or "offline-" + secrets.token_hex(8), body=body,
            source=Conversation.Source.OFFLINE_FORM,
        )
        if created:
            with translation.override(settings.LANGUAGE_CODE):
                text = translation.gettext(reason)
            event = RoutingEvent.objects.create(
                merchant_id=merchant_id, conversation_id=message.conversation_id,
                kind=RoutingEvent.Kind.OFFLINE, rule="offline_form", reason=text,
                detail={"message_id": message.pk, "contact": next(iter(contact))},
            )
            realtime.publish_on_commit(
                realtime.agents_group(merchant_id),
                protocol.RoutingEventFrame(event=routing.routing_event_out(event)),
            )
            from . import notify

            on_commit_robust(notify.notify_agents, merchant_id=merchant_id,
                             conversation_id=message.conversation_id, reason="offline")
    return message, created
