"""The two steps every conversation write goes through: `conversation_lock` (the row lock) and
`message_append` (the next message, the conversation's counters, the `message.created` event
after commit). Every message of every sender is stored by message_append and nowhere else
(message_append_many, the multi-row form for a batch of visitor messages, shares its counters
and frames code).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import translation
from django.utils.translation import gettext_noop

from kefu.errors import NotFound
from knowledge.sentiment import Sentiment
from merchants.models import ApiToken, Membership
from merchants.selectors import merchant_webhook_kinds

from .. import events, realtime, search, signals
from ..models import Attachment, Conversation, Message, Visitor

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
    def visitor(cls, visitor: Visitor) -> Sender:
        return cls(kind=Message.SenderKind.VISITOR, key="visitor", name=visitor.display_name)

    @classmethod
    def agent(cls, membership: Membership) -> Sender:
        return cls(
            kind=Message.SenderKind.AGENT,
            key=f"agent:{membership.user_id}",
            name=membership.display_name,
            user_id=membership.user_id,
        )

    @classmethod
    def api_token(cls, token: ApiToken) -> Sender:
        return cls(kind=Message.SenderKind.AGENT, key=f"api:{token.pk}", name=token.name)


def conversation_lock(*, merchant_id: int, conversation_id: int) -> Conversation:
    """Lock a conversation row (inside the caller's transaction) and return it with its
    visitor. Raises NotFound. The lock order of every path is in docs/routing.md ("Locks")."""
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


def conversations_lock(qs) -> list[Conversation]:
    """Lock the conversations `qs` selects, through their primary key only, and return those
    that match once locked, in `qs`'s order. A locking read through a secondary index
    deadlocked on MySQL (docs/routing.md, "Locks"). A row that starts to match between the
    read and the lock is found by the re-read and locked in a second round. The batch path
    runs the same loop on SQL (rows.open_conversations_lock): a change to one is a change to
    both."""
    locked: set[int] = set()
    ids = set(qs.values_list("pk", flat=True))
    while ids - locked:
        new = sorted(ids - locked)
        list(
            Conversation.objects.select_for_update()
            .filter(pk__in=new)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        locked.update(new)
        rows = list(qs)
        ids = {row.pk for row in rows}
        if ids <= locked:
            return rows
    return []


def conversation_lock_first(qs) -> Conversation | None:
    """The first conversation of `qs` (ordered by the caller), locked as conversations_lock does."""
    rows = conversations_lock(qs)
    return rows[0] if rows else None


def message_append(
    *,
    conversation: Conversation,
    sender: Sender,
    body: str,
    client_msg_id: str | None,
    private: bool = False,
    kind: str = Message.Kind.TEXT,
    sentiment: Sentiment | None = None,
    meta: dict | None = None,
    needs_pipeline: bool = False,
    attachment: Attachment | None = None,
) -> Message:
    """Store the next message of a conversation the caller holds the row lock on
    (conversation_lock), update its counters, publish `message.created` after the commit.
    `needs_pipeline`: a visitor message the post-commit step (conversations.pipeline) must see.
    `attachment`: an upload taken by attachments.attachment_take; the message carries it (its
    kind is the attachment's, `body` an optional caption)."""
    if attachment is not None:
        kind = attachment.kind
    message = _message_row(
        conversation,
        conversation.last_seq + 1,
        sender=sender,
        body=body,
        kind=kind,
        client_msg_id=client_msg_id,
        private=private,
        sentiment=sentiment,
        meta=meta,
    )
    message.save(force_insert=True)
    # A system line (kind event: "Bob joined", conversations/system_lines.py) takes its seq
    # like any message, so it is replayed, resumed and placed like one, but it is not a message
    # anyone wrote: it is not searched, previewed, counted unread, mailed or a webhook's
    # message.created (its lifecycle fact is already a ConversationEvent).
    line = kind == Message.Kind.EVENT
    # The search index, in this transaction (conversations/search.py says how each database
    # keeps it in step).
    if not line:
        search.index_message(message_id=message.pk, merchant_id=message.merchant_id, body=body)
    if attachment is not None:
        attachment.message = message
        attachment.conversation = conversation
        attachment.save(update_fields=["message", "conversation"])
    _counted(
        conversation,
        message,
        sender=sender,
        body=body,
        private=private,
        sentiment=sentiment,
        needs_pipeline=needs_pipeline,
        attachment=attachment,
    )
    conversation.save(update_fields=CONVERSATION_FIELDS)
    _published(conversation, message, sender=sender, private=private)
    return message


def _message_row(
    conversation: Conversation,
    seq: int,
    *,
    sender: Sender,
    body: str,
    kind: str,
    client_msg_id: str | None,
    private: bool,
    sentiment: Sentiment | None,
    meta: dict | None,
) -> Message:
    """The unsaved row of a conversation's message `seq` (message_append saves one,
    message_append_many inserts many at once)."""
    return Message(
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


# What message_append may change on the conversation row.
CONVERSATION_FIELDS = [
    "last_seq",
    "last_message_at",
    "last_message_preview",
    "last_message_sender_kind",
    "unread_agent_count",
    "unread_visitor_count",
    "first_response_at",
    "status",
    "resolved_at",
    "assignee",
    "awaiting_reply_since",
    "priority",
    "team",
    "pipeline_seq",
    "pipeline_pending_since",
    "pipeline_reopened_seq",
    "snoozed_at",
    "snoozed_until",
]
# What a visitor's text message changes on it (message_append_many).
VISITOR_MESSAGE_FIELDS = [
    "last_seq",
    "last_message_at",
    "last_message_preview",
    "last_message_sender_kind",
    "unread_agent_count",
    "awaiting_reply_since",
    "priority",
    "pipeline_seq",
    "pipeline_pending_since",
    "snoozed_at",
    "snoozed_until",
]


def message_append_many(appends: list[tuple]) -> list[Message] | None:
    """message_append for many visitors' text messages at once (the batch of
    conversations.batching): one multi-row INSERT of the messages, one of their search rows and
    one UPDATE of their conversations, whatever their number, instead of three statements per
    message. `appends`: (conversation, sender, body, client_msg_id, sentiment, needs_pipeline),
    each conversation locked by the caller, a conversation's messages in their order.

    Returns the messages, or None having stored nothing when a row hits a unique key (a retried
    client_msg_id): no lookup per message, the key answers, and the caller then takes the
    per-message path, which finds the original."""
    following: dict[int, int] = {}
    messages = []
    for conversation, sender, body, client_msg_id, sentiment, _ in appends:
        seq = following.get(conversation.pk, conversation.last_seq) + 1
        following[conversation.pk] = seq
        messages.append(
            _message_row(
                conversation,
                seq,
                sender=sender,
                body=body,
                kind=Message.Kind.TEXT,
                client_msg_id=client_msg_id,
                private=False,
                sentiment=sentiment,
                meta=None,
            )
        )
    try:
        with transaction.atomic():  # a savepoint: the duplicate's error leaves nothing behind
            Message.objects.bulk_create(messages)
    except IntegrityError:
        return None
    search.index_messages([(m.pk, m.merchant_id, m.body) for m in messages])
    changed = {}
    for message, (conversation, sender, body, _, sentiment, needs_pipeline) in zip(
        messages, appends
    ):
        # Message by message, as message_append: each inbox row published is the one after it.
        _counted(
            conversation,
            message,
            sender=sender,
            body=body,
            private=False,
            sentiment=sentiment,
            needs_pipeline=needs_pipeline,
            attachment=None,
        )
        _published(conversation, message, sender=sender, private=False)
        changed[conversation.pk] = conversation
    _conversations_update(list(changed.values()), VISITOR_MESSAGE_FIELDS)
    return messages


def _conversations_update(conversations: list[Conversation], names: list[str]) -> None:
    """Write these fields of these (locked) rows in one `UPDATE ... SET f = CASE id WHEN ...`.
    What QuerySet.bulk_update writes, without its cost: it builds one ORM expression per row
    and field, which took most of the database thread's time of a 40-message batch."""
    if connection.features.requires_casted_case_in_updates:
        Conversation.objects.bulk_update(conversations, names)
        return
    quote = connection.ops.quote_name
    pk = quote(Conversation._meta.pk.column)
    ids = [c.pk for c in conversations]
    whens = " ".join(["WHEN %s THEN %s"] * len(conversations))
    sets, params = [], []
    for name in names:
        field = Conversation._meta.get_field(name)
        sets.append(f"{quote(field.column)} = CASE {pk} {whens} END")
        for conversation in conversations:
            params += [
                conversation.pk,
                field.get_db_prep_save(getattr(conversation, field.attname), connection),
            ]
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Conversation._meta.db_table)} SET {', '.join(sets)} "
            f"WHERE {pk} IN ({marks})",
            params + ids,
        )


def _counted(
    conversation: Conversation,
    message: Message,
    *,
    sender: Sender,
    body: str,
    private: bool,
    sentiment: Sentiment | None,
    needs_pipeline: bool,
    attachment: Attachment | None,
) -> None:
    """The conversation's counters after `message` (in memory; the caller writes them)."""
    seq = message.seq
    line = message.kind == Message.Kind.EVENT
    conversation.last_seq = seq
    # The step's pointer follows last_seq while nothing waits for the step, so a message that
    # needs none (an agent's, the bot's, a visitor's on the fast path) is never looked at again,
    # neither by the step nor by the sweep. Once something waits, the step moves it.
    if not needs_pipeline and conversation.pipeline_seq == seq - 1:
        conversation.pipeline_seq = seq
    elif conversation.pipeline_pending_since is None:
        conversation.pipeline_pending_since = message.created_at
    if not private and not line:
        conversation.last_message_at = message.created_at
        conversation.last_message_preview = (body or _attachment_preview(attachment))[
            :PREVIEW_LENGTH
        ]
        conversation.last_message_sender_kind = sender.kind
        if sender.kind == Message.SenderKind.VISITOR:
            conversation.unread_agent_count += 1
            if conversation.awaiting_reply_since is None:
                conversation.awaiting_reply_since = message.created_at
            # The visitor writing again wakes a snoozed conversation (either kind of snooze).
            conversation.snoozed_at = conversation.snoozed_until = None
            if sentiment is not None and sentiment.strongly_negative:
                # An angry visitor is served first from the queue.
                conversation.priority = max(conversation.priority, NEGATIVE_PRIORITY)
        else:
            conversation.unread_visitor_count += 1
            if sender.kind == Message.SenderKind.AGENT:
                conversation.awaiting_reply_since = None
                if conversation.first_response_at is None:
                    conversation.first_response_at = message.created_at
                    events.record_event(
                        events.Kind.FIRST_REPLY,
                        merchant_id=conversation.merchant_id,
                        conversation=conversation,
                        actor_id=sender.user_id,
                        data={
                            "message_id": message.pk,
                            "seconds": (
                                message.created_at - conversation.created_at
                            ).total_seconds(),
                        },
                        at=message.created_at,
                    )


def _published(
    conversation: Conversation, message: Message, *, sender: Sender, private: bool
) -> None:
    """What follows a stored message after the commit: the webhook event if subscribed, the
    frames, the reply email."""
    seq = message.seq
    line = message.kind == Message.Kind.EVENT
    if not line and events.Kind.MESSAGE_CREATED in merchant_webhook_kinds(
        merchant_id=conversation.merchant_id
    ):
        # Only for merchants whose webhooks subscribe to it (a snapshot, no query per message):
        # otherwise the one INSERT per message stays the message itself.
        events.record_event(
            events.Kind.MESSAGE_CREATED,
            merchant_id=conversation.merchant_id,
            conversation=conversation,
            actor_id=sender.user_id,
            data={
                "message_id": message.pk,
                "seq": seq,
                "sender_kind": sender.kind,
                "private": private,
            },
            at=message.created_at,
        )
    realtime.message_created(message, conversation)
    if (
        sender.kind != Message.SenderKind.VISITOR
        and not private
        and not line
        and conversation.visitor.email
    ):
        _schedule_reply_email(conversation)


# The inbox line of a message that is only an image or a file, as chat apps write it ("[图片]").
# Stored text, so in the site's language, like the bot's name.
PREVIEW_IMAGE = gettext_noop("[Image] %(name)s")
PREVIEW_FILE = gettext_noop("[File] %(name)s")


def _attachment_preview(attachment: Attachment | None) -> str:
    if attachment is None:
        return ""
    with translation.override(settings.LANGUAGE_CODE):
        text = translation.gettext(
            PREVIEW_IMAGE if attachment.kind == Attachment.Kind.IMAGE else PREVIEW_FILE
        )
    return text % {"name": attachment.name}


def conversation_start(
    *, merchant_id: int, visitor: Visitor, source: str, team=None, actor_id=None, **data
) -> Conversation:
    """A new conversation and its `conversation.created` event, in the caller's transaction
    (the visitor's first message, an outbound message, an invitation)."""
    conversation = Conversation.objects.create(
        merchant_id=merchant_id, visitor=visitor, team=team, source=source
    )
    events.record_event(
        events.Kind.CONVERSATION_CREATED,
        merchant_id=merchant_id,
        conversation=conversation,
        actor_id=actor_id,
        data={"source": source, "team_id": conversation.team_id, **data},
        at=conversation.created_at,
    )
    return conversation


def _schedule_reply_email(conversation: Conversation) -> None:
    # notifications decides whether and when to email the visitor (VISITOR_REPLY_EMAIL_DELAY);
    # after commit, so the task it queues finds the row.
    transaction.on_commit(
        partial(
            signals.visitor_reply_posted.send,
            sender=Conversation,
            merchant_id=conversation.merchant_id,
            conversation_id=conversation.pk,
        )
    )
