"""Who receives which event, and when: only services call into this module.

Events go out after the transaction commits (`transaction.on_commit`), so no client ever sees a
message that a rollback took back, and a client that re-fetches after an event finds the row.
Recipients are chosen here and nowhere else: private notes and inbox updates go to the
merchant's agents only, never to a visitor group.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from contextlib import contextmanager
from functools import partial, wraps

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from merchants.models import Membership

from . import attachments, protocol
from .models import Conversation, Message, Visitor

logger = logging.getLogger(__name__)


class ThrottledFailureLog:
    """A broken channel layer (Redis down) fails every broadcast, hundreds a second. Log the
    first failure with its traceback, then at most one line per `every` seconds saying how many
    were left out, so the log stays readable during an outage. Call inside the `except`."""

    def __init__(self, every: float = 10.0):
        self.every = every
        self.last = float("-inf")
        self.suppressed = 0
        self.lock = threading.Lock()

    def __call__(self, group: str) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last < self.every:
                self.suppressed += 1
                return
            suppressed, self.suppressed, self.last = self.suppressed, 0, now
        logger.exception(
            "group_send to %s failed (%d similar failures not logged in the last %.0f s)",
            group,
            suppressed,
            self.every,
        )


send_failed = ThrottledFailureLog()


def agents_group(merchant_id: int) -> str:
    return f"m{merchant_id}.agents"


def visitors_group(merchant_id: int) -> str:
    """Every visitor socket of one merchant (availability changes)."""
    return f"m{merchant_id}.visitors"


def visitor_group(visitor_id: int) -> str:
    return f"v{visitor_id}"


def agent_group(merchant_id: int, user_id: int) -> str:
    """Every socket of one agent in one merchant (personal notifications)."""
    return f"m{merchant_id}.u{user_id}"


# --- Model -> protocol shapes -----------------------------------------------------------------


def message_out(message: Message, *, for_agents: bool = True) -> protocol.MessageOut:
    """`for_agents=False` leaves out what only agents may see (the sentiment read from the
    visitor's own words)."""
    return protocol.MessageOut(
        id=message.pk,
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_kind=message.sender_kind,
        sender_name=message.sender_name,
        body=message.body,
        kind=message.kind,
        client_msg_id=message.client_msg_id,
        private=message.is_private,
        created_at=message.created_at,
        meta=message.meta or {},
        sentiment_score=message.sentiment_score if for_agents else None,
        sentiment_label=(message.sentiment_label or "") if for_agents else "",
        attachment=attachment_out(message),
    )


def attachment_out(message: Message) -> protocol.AttachmentOut | None:
    """Lists load the attachment with select_related("attachment") (selectors.message_list), so
    this is no query per row; a text message has none."""
    if message.kind not in (Message.Kind.IMAGE, Message.Kind.FILE):
        return None
    try:
        attachment = message.attachment
    except ObjectDoesNotExist:
        return None
    return attachment_upload_out(attachment)


def attachment_upload_out(attachment) -> protocol.AttachmentOut:
    """An upload as its uploader gets it back, and as a message carries it."""
    return protocol.AttachmentOut(
        id=attachment.pk,
        kind=attachment.kind,
        name=attachment.name,
        content_type=attachment.content_type,
        size=attachment.size,
        width=attachment.width,
        height=attachment.height,
        url=attachments.signed_url(attachment, "o"),
        thumbnail_url=attachments.signed_url(attachment, "t") if attachment.thumbnail else None,
    )


def visitor_out(visitor: Visitor, online: bool | None = None) -> protocol.VisitorOut:
    return protocol.VisitorOut(
        id=visitor.pk,
        name=visitor.display_name,
        email=visitor.email,
        page_url=visitor.page_url,
        page_title=visitor.page_title,
        last_seen_at=visitor.last_seen_at,
        online=online,
    )


def conversation_out(
    conversation: Conversation, online: bool | None = None
) -> protocol.ConversationOut:
    """Needs `conversation.visitor` loaded (select_related) to stay one query per list."""
    return protocol.ConversationOut(
        id=conversation.pk,
        status=conversation.status,
        visitor=visitor_out(conversation.visitor, online),
        assignee_id=conversation.assignee_id,
        last_seq=conversation.last_seq,
        last_message_at=conversation.last_message_at,
        last_message_preview=conversation.last_message_preview,
        last_message_sender_kind=conversation.last_message_sender_kind,
        unread_count=conversation.unread_agent_count,
        created_at=conversation.created_at,
        agent_last_read_seq=conversation.agent_last_read_seq,
        visitor_last_read_seq=conversation.visitor_last_read_seq,
        source=conversation.source,
        team_id=conversation.team_id,
        priority=conversation.priority,
        queued_at=conversation.queued_at,
        queue_position=getattr(conversation, "queue_position", None),
        bot_active=conversation.bot_active,
        intent=conversation.intent,
        awaiting_reply_since=conversation.awaiting_reply_since,
        snoozed_at=conversation.snoozed_at,
        snoozed_until=conversation.snoozed_until,
        label_ids=conversation_label_ids(conversation),
        rating=conversation.rating,
        rating_comment=conversation.rating_comment,
    )


def conversation_label_ids(conversation: Conversation) -> list[int] | None:
    """The label ids if the caller prefetched `labels` (the lists do), else None: the message
    hot path publishes rows without a query for them (`conversation.labels` carries changes)."""
    cached = getattr(conversation, "_prefetched_objects_cache", {}).get("labels")
    if cached is None:
        return None
    return sorted(label.pk for label in cached)


def label_out(label) -> protocol.LabelOut:
    return protocol.LabelOut(id=label.pk, name=label.name, colour=label.colour)


def visitor_conversation_out(conversation: Conversation) -> protocol.VisitorConversationOut:
    return protocol.VisitorConversationOut(
        id=conversation.pk,
        status=conversation.status,
        last_seq=conversation.last_seq,
        unread_count=conversation.unread_visitor_count,
        agent_last_read_seq=conversation.agent_last_read_seq,
        visitor_last_read_seq=conversation.visitor_last_read_seq,
        bot_active=conversation.bot_active,
        assigned=conversation.assignee_id is not None,
        # Set by conversations.routing when it knows them (queue_position / estimated_wait).
        queue_position=getattr(conversation, "queue_position", None),
        estimated_wait_seconds=getattr(conversation, "estimated_wait_seconds", None),
        rated=conversation.rated_since_resolved,
        rating=conversation.rating,
        agent_name=assignee_name(conversation),
    )


def assignee_name(conversation: Conversation) -> str:
    """The assignee's display name, read once per conversation object and assignee (async code
    calls this in its database thread first: the read is then cached on the object)."""
    if conversation.assignee_id is None:
        return ""
    cached = getattr(conversation, "_assignee_name", None)
    if cached is None or cached[0] != conversation.assignee_id:
        name = (
            Membership.objects.filter(
                merchant_id=conversation.merchant_id, user_id=conversation.assignee_id
            )
            .values_list("display_name", flat=True)
            .first()
        )
        cached = (conversation.assignee_id, name or "")
        conversation._assignee_name = cached
    return cached[1]


# --- Publishing -----------------------------------------------------------------------------


_deferred = threading.local()


@contextmanager
def deferred_publishes():
    """Within this block (sync code in a database thread), events about to be published after
    their commit are collected in the yielded list as (group, frame) instead of being sent one by
    one through async_to_sync, which blocks the database thread on a hop to the event loop per
    event. The caller sends them from its event loop with `apublish_events`, in order. Events of
    a rolled-back transaction never get here: Django drops its on_commit callbacks."""
    events: list[tuple[str, dict]] = []
    _deferred.events = events
    try:
        yield events
    finally:
        _deferred.events = None


def publishes_deferred() -> bool:
    """True inside a `deferred_publishes()` block of this thread."""
    return getattr(_deferred, "events", None) is not None


async def apublish_events(events: list[tuple[str, dict]]) -> None:
    """Send collected events: in order within each group (a socket sees its groups' events in
    commit order), the groups side by side. A group's events go as one channel-layer message
    (`bundle_event`: one PUBLISH, one delivery to each subscriber, unpacked in order by the
    consumer), and with the Redis layer all the groups' messages in one round trip
    (`group_send_many`, kefu/channel_layer.py) instead of one per event: the event loop's
    largest cost per stored message was these writes (docs/performance.md, "The event loop
    per message")."""
    if not events:
        return
    layer = get_channel_layer()
    by_group: dict[str, list[dict]] = {}
    for group, frame in events:
        by_group.setdefault(group, []).append(frame)
    messages = [(group, bundle_event(frames)) for group, frames in by_group.items()]
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        try:
            await send_many(messages)
        except Exception:  # noqa: BLE001 - best effort, counted and logged by send_failed
            send_failed(messages[0][0])
        return

    async def send(group: str, message: dict) -> None:
        try:
            await layer.group_send(group, message)
        except Exception:  # noqa: BLE001 - best effort, counted and logged by send_failed
            send_failed(group)

    await asyncio.gather(*(send(group, message) for group, message in messages))


# A channel-layer message carrying several events for one group, in order
# (FrameConsumer.dispatch unpacks it): what one batch of commits publishes to a group.
BUNDLE = "kefu.bundle"


def bundle_event(frames: list[dict]) -> dict:
    """The channel-layer message for a group's frames, in order: the frame's own event if there
    is one, else a bundle of them."""
    if len(frames) == 1:
        return text_event(frames[0])
    return {"type": BUNDLE, "events": [text_event(frame) for frame in frames]}


# The JSON of a frame as the sockets send it: one encoder (json.dumps with an argument builds a
# new one per call), compact.
encode_frame = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def text_event(frame: dict) -> dict:
    """A collected event as the channel layer carries it (`apublish_events`): the frame as the
    JSON text every receiving socket sends as it is (FrameConsumer.dispatch), encoded once here
    instead of once per socket, and a string is what msgpack packs and unpacks cheaply, where
    the frame's nested dicts were unpacked again for each receiving channel (both were among
    the event loop's largest costs per message at saturation, docs/performance.md). A
    `message.created` also carries its message's (conversation_id, seq) as `ref` for the
    ordered delivery (`created_ref`). A frame with texts to render per socket (TEXTS) stays a
    dict: `layer_event`."""
    if TEXTS in frame:
        return layer_event(frame)
    event = {"type": frame["type"], "text": encode_frame(frame)}
    if frame["type"] == "message.created":
        message = frame["message"]
        event["ref"] = [message["conversation_id"], message["seq"]]
    return event


def created_ref(event: dict) -> tuple[int, int]:
    """(conversation_id, seq) of a `message.created` channel-layer event, of either form."""
    ref = event.get("ref")
    if ref is not None:
        return ref[0], ref[1]
    message = event["frame"]["message"]
    return message["conversation_id"], message["seq"]


@contextmanager
def one_hop():
    """Collect every event the block publishes after its commits and send them all in one hop
    to the event loop (deferred_publishes), instead of one async_to_sync per event: a queue
    change alone is a `conversation.state` per waiting visitor, and in a Celery worker each hop
    is a fresh event loop with a fresh Redis connection. Inside an outer collection (a
    consumer's batch) the events simply join it."""
    if getattr(_deferred, "events", None) is not None:
        yield
        return
    try:
        with deferred_publishes() as events:
            yield
    finally:
        # Sent even when the action failed after some commit: what committed is published.
        if events:
            async_to_sync(apublish_events)(events)


def publishing(fn):
    """Decorator for routing entry points (the router's and the manual actions'), whose
    transactions commit inside: what they publish goes out in one hop (one_hop)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        with one_hop():
            return fn(*args, **kwargs)

    return wrapper


def _group_send(group: str, frame: dict) -> None:
    deferred = getattr(_deferred, "events", None)
    if deferred is not None:
        deferred.append((group, frame))
        return
    layer = get_channel_layer()
    try:
        # The channel-layer message type is the frame type: "message.created" reaches the
        # consumer handler `message_created`.
        async_to_sync(layer.group_send)(group, layer_event(frame))
    except Exception:  # noqa: BLE001 - best effort (the comment below)
        # Delivery is best effort by design: the row is committed and clients resume from the
        # database. A broken layer must not turn a stored message into an error for the sender.
        send_failed(group)


# A channel-layer event that is not a frame: every socket of that agent in that merchant closes
# with 4403 (AgentConsumer.access_revoked), on whichever server process holds it.
ACCESS_REVOKED = "access.revoked"


def access_revoked_received(sender, *, merchant_id: int, user_id: int, **kwargs) -> None:
    """merchants.signals.access_revoked, sent after the commit: close the agent's sockets."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            agent_group(merchant_id, user_id), {"type": ACCESS_REVOKED}
        )
    except Exception:  # noqa: BLE001 - counted; the socket's own re-check closes it at its next frame
        send_failed(agent_group(merchant_id, user_id))


# A frame's texts that each agent socket renders in its agent's language (kefu.localized):
# {"path.to.field": Localized.spec()}, carried beside the frame on the channel layer as
# `texts` (never sent to a client; consumers.base.FrameConsumer.localize).
TEXTS = "__texts"


def publish_on_commit(group: str, frame: protocol.Frame, texts: dict | None = None) -> None:
    data = frame.model_dump(mode="json")
    if texts:
        data[TEXTS] = texts
    transaction.on_commit(partial(_group_send, group, data))


def layer_event(frame: dict) -> dict:
    """The channel-layer message for a frame: its type names the consumer handler."""
    if TEXTS in frame:
        frame = dict(frame)
        texts = frame.pop(TEXTS)
        return {"type": frame["type"], "frame": frame, "texts": texts}
    return {"type": frame["type"], "frame": frame}


def message_created(message: Message, conversation: Conversation) -> None:
    """Fan out a newly stored message and the conversation's new inbox row."""
    out = message_out(message)
    publish_on_commit(
        agents_group(conversation.merchant_id), protocol.MessageCreatedFrame(message=out)
    )
    publish_on_commit(
        agents_group(conversation.merchant_id),
        protocol.ConversationUpdatedFrame(conversation=conversation_out(conversation)),
    )
    if not message.is_private:
        # message_out(message, for_agents=False) without building and validating it again.
        for_visitor = out.model_copy(update={"sentiment_score": None, "sentiment_label": ""})
        publish_on_commit(
            visitor_group(conversation.visitor_id),
            protocol.MessageCreatedFrame(message=for_visitor),
        )


def conversation_updated(conversation: Conversation) -> None:
    publish_on_commit(
        agents_group(conversation.merchant_id),
        protocol.ConversationUpdatedFrame(conversation=conversation_out(conversation)),
    )


def conversation_read(
    conversation: Conversation, *, reader: str, seq: int, user_id: int | None = None
) -> None:
    """Read ticks: agents learn who read what; the visitor learns that an agent read it (no
    names), on every tab."""
    publish_on_commit(
        agents_group(conversation.merchant_id),
        protocol.ConversationReadOutFrame(
            conversation_id=conversation.pk, reader=reader, user_id=user_id, seq=seq
        ),
    )
    publish_on_commit(
        visitor_group(conversation.visitor_id),
        protocol.ConversationReadOutFrame(conversation_id=conversation.pk, reader=reader, seq=seq),
    )


def visitor_updated(visitor: Visitor, online: bool | None = None) -> None:
    publish_on_commit(
        agents_group(visitor.merchant_id),
        protocol.VisitorUpdatedFrame(visitor=visitor_out(visitor, online)),
    )


def conversation_labels_changed(
    conversation: Conversation, label_ids: list[int], actor_id: int | None
) -> None:
    publish_on_commit(
        agents_group(conversation.merchant_id),
        protocol.ConversationLabelsFrame(
            conversation_id=conversation.pk, label_ids=label_ids, actor_id=actor_id
        ),
    )


def labels_changed(merchant_id: int, labels: list) -> None:
    publish_on_commit(
        agents_group(merchant_id),
        protocol.LabelsChangedFrame(labels=[label_out(label) for label in labels]),
    )


def visitor_profile_changed(
    merchant_id: int, visitor_id: int, what: str, merged_into: int | None = None
) -> None:
    publish_on_commit(
        agents_group(merchant_id),
        protocol.VisitorProfileChangedFrame(
            visitor_id=visitor_id, what=what, merged_into=merged_into
        ),
    )


# --- Ephemeral events (typing, presence, viewers) ---------------------------------------------
# Nothing is committed for these, so they go out at once, from the consumer's event loop.


async def apublish(group: str, frame: protocol.Frame) -> None:
    layer = get_channel_layer()
    data = frame.model_dump(mode="json")
    try:
        await layer.group_send(group, {"type": data["type"], "frame": data})
    except Exception:  # noqa: BLE001 - best effort, counted and logged by send_failed
        send_failed(group)
