"""What every socket shares: size and rate limits, JSON decoding, frame validation, error
frames, the heartbeat, presence refresh, forwarding group events, acks and history replay.
The visitor's and the agent's consumers (visitor.py, agent.py) add authentication, groups and
one handler per client frame, each calling a service or a selector.
"""

from __future__ import annotations

import copy
import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from kefu import jsonsafe, localized, ratelimit
from kefu.errors import KefuError

from .. import protocol, realtime, selectors
from ..protocol import ErrorCode, FrameError
from . import housekeeping

logger = logging.getLogger(__name__)

# Channel-layer events whose frame is forwarded to the client as it is: the event frames of the
# catalogue (protocol.EVENT_FRAMES).
FORWARDED = frozenset(protocol.frame_type(frame) for frame in protocol.EVENT_FRAMES)
PRESENCE_REFRESH_SECONDS = housekeeping.PRESENCE_REFRESH_SECONDS


class TokenBucket:
    """Per-socket rate limit: `rate` frames per second sustained, `burst` at once."""

    __slots__ = ("rate", "capacity", "tokens", "stamp")  # one per socket: no __dict__

    def __init__(self, rate: float, burst: int):
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> float:
        """0 if allowed, else the seconds until the next frame would be."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class FrameConsumer(AsyncWebsocketConsumer):
    """Shared frame handling: size and rate limits, JSON decoding, validation, error frames,
    heartbeat and presence refresh."""

    role = ""  # "visitor" or "agent"

    def setup(self) -> None:
        client = self.scope.get("client")
        self.address = client[0] if client else "unknown"
        self.groups = []
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)
        self.last_frame = time.monotonic()
        # Whether the process's watchdog checks this socket (housekeeping.watch): its heartbeat
        # and presence refresh, without a task of its own.
        self.watched = False
        # Per conversation, the seq up to which this socket has been sent every message it may
        # see (in_order). Visitors start at 0 (their replay sets it); an agent socket learns a
        # conversation's from the first message frame or replay of it.
        self.sent_seq: dict[int, int] = {}

    async def dispatch(self, message):
        # Channels runs close_old_connections() through a thread hop before every handler
        # (docs/realtime.md pitfall 4). Database work here happens only inside
        # database_sync_to_async, which does that clean-up itself, so skip the hop.
        kind = message["type"]
        if kind == realtime.BUNDLE:
            # One group's events of a batch of commits, in commit order (realtime.bundle_event).
            for event in message["events"]:
                await self.dispatch(event)
            return
        if kind == "message.created" and not await self.in_order(*realtime.created_ref(message)):
            return  # overtaken by a later message: already sent, from the database
        if kind in FORWARDED:
            if message.get("sender") != self.channel_name:  # never echo to the source socket
                text = message.get("text")  # encoded once by the publisher (realtime.text_event)
                if text is None:
                    frame = self.localize(message["frame"], message.get("texts"))
                    text = realtime.encode_frame(frame)
                await self.send(text_data=text)
            return
        handler = getattr(self, kind.replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {kind}")
        await handler(message)

    def localize(self, frame: dict, texts: dict | None) -> dict:
        """The frame with its agent-facing texts (realtime.TEXTS) in this socket's language:
        one frame goes to a group whose agents read different languages."""
        if not texts:
            return frame
        language = self.language()
        frame = copy.deepcopy(frame)
        for path, spec in texts.items():
            *parents, leaf = path.split(".")
            target = frame
            for key in parents:
                target = target.get(key) if isinstance(target, dict) else None
            if isinstance(target, dict) and leaf in target:
                target[leaf] = localized.render(spec, language, fallback=target[leaf])
        return frame

    def language(self) -> str:
        cached = getattr(self, "_language", None)
        if cached is None:
            cached = self._language = localized.language_of_scope(self.scope)
        return cached

    async def refused_for_rate(self) -> bool:
        """Too many sockets opened from this address lately (WS_CONNECT_RATE_PER_ADDRESS):
        accepted only to say so and close with 4429, so the client waits instead of
        reconnecting at once (a refused handshake looks like a network error)."""
        wait = await ratelimit.ahit(ratelimit.setting("WS_CONNECT_RATE_PER_ADDRESS"), self.address)
        if not wait:
            return False
        await self.accept()
        await self.send_error(
            ErrorCode.RATE_LIMITED, "Too many connections from this address.", retry_after=wait
        )
        await self.close(code=4429)
        return True

    async def send_frame(self, frame: protocol.Frame) -> None:
        await self.send(text_data=frame.model_dump_json())

    async def send_error(
        self,
        code: str,
        message: str,
        *,
        ref: str | None = None,
        fields: dict | None = None,
        retry_after: float | None = None,
    ) -> None:
        await self.send_frame(
            protocol.ErrorFrame(
                code=code,
                message=message,
                ref=ref,
                fields=fields or {},
                retry_after=retry_after,
            )
        )

    async def publish(self, group: str, frame: protocol.Frame) -> None:
        """Ephemeral event to a group, skipping this socket."""
        data = frame.model_dump(mode="json")
        try:
            await self.channel_layer.group_send(
                group, {"type": data["type"], "frame": data, "sender": self.channel_name}
            )
        except Exception:  # noqa: BLE001 - best effort, counted and logged by send_failed
            realtime.send_failed(group)

    async def close(self, code=None, reason=None):
        self.closing = True
        await super().close(code=code, reason=reason)

    async def receive(self, text_data=None, bytes_data=None):
        raw = text_data if text_data is not None else bytes_data
        # Frames the client sent before it saw our close (say, a ping after a refused `auth`)
        # still arrive: answering one raised "send on a closed protocol" in daphne, a traceback
        # for nothing (found by the WebSocket fuzz). They are dropped.
        if raw is None or getattr(self, "closing", False):
            return
        self.last_frame = time.monotonic()
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        data = _UNREADABLE
        if size <= protocol.MAX_FRAME_BYTES:
            try:
                data = jsonsafe.loads(raw)
            except (ValueError, UnicodeDecodeError):
                pass
        # Every frame is charged, pings and refused ones (too large, not JSON, invalid)
        # included: otherwise a flood of pings or garbage is answered at full speed. A client
        # pings every 25 s, a negligible share of the budget.
        wait = self.bucket.take()
        if wait:
            # At least 1 ms: a wait that rounds to 0 would read as "retry now".
            await self.send_error(
                ErrorCode.RATE_LIMITED,
                "Too many frames; slow down.",
                ref=_ref(data),
                retry_after=max(round(wait, 3), 0.001),
            )
            return
        if size > protocol.MAX_FRAME_BYTES:
            await self.send_error(ErrorCode.FRAME_TOO_LARGE, "The frame is too large.")
            return
        if data is _UNREADABLE:
            await self.send_error(ErrorCode.INVALID_JSON, "The frame is not valid JSON.")
            return
        try:
            frame = protocol.parse_client_frame(self.role, data)
            await self.handle_frame(frame)
        except FrameError as exc:
            await self.send_error(exc.code, exc.message, ref=exc.ref, fields=exc.fields)
        except KefuError as exc:
            fields = {exc.field: exc.message} if exc.field else None
            await self.send_error(exc.code, exc.message, ref=_ref(data), fields=fields)
        except Exception:
            # The socket survives a server bug; the client retries with the same client_msg_id.
            logger.exception("frame handling failed on a %s socket", self.role)
            await self.send_error(
                ErrorCode.INTERNAL_ERROR, "The server failed; nothing was stored.", ref=_ref(data)
            )

    async def handle_frame(self, frame: protocol.Frame) -> None:
        if isinstance(frame, protocol.PingFrame):
            await self.send_frame(protocol.PongFrame())
            return
        handler = getattr(self, "frame_" + frame.type.replace(".", "_"))
        await handler(frame)

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)

    def start_watchdog(self) -> None:
        self.watched = True
        housekeeping.watch(self)

    async def __call__(self, scope, receive, send):
        # The server's input queue of this socket (daphne's, or the tests' communicator's), for
        # waiting(); a server whose receive is not a queue's method has no such view.
        self.inbox = getattr(receive, "__self__", None)
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            # A handler that raised ends the consumer before its websocket.disconnect arrives
            # (seen: a broadcast sent to a socket the client had just closed, "Attempt to send
            # on a closed protocol"). Clean up anyway, or the socket's presence entry keeps a
            # visitor's tab slot taken (too_many_sockets) until it expires. A cancelled
            # consumer (process shutdown) is not an Exception: its entries expire on their own.
            if hasattr(self, "watched") and not getattr(self, "disconnected", False):
                try:
                    await self.disconnect(1006)
                except Exception:
                    logger.exception("clean-up of a consumer that failed before its disconnect")
            raise
        finally:
            # The server can drop the application without a disconnect (daphne cancels one
            # that outlives application_close_timeout). The watchdog must not keep it, or it
            # keeps refreshing the dead socket's presence entries instead of letting them expire;
            # nor may its layer subscriptions stay (a no-op after disconnect released them).
            if getattr(self, "watched", False):
                housekeeping.unwatch(self)
            if getattr(self, "channel_name", None) and hasattr(self, "groups"):
                housekeeping.release(self.channel_layer, self.channel_name, self.groups)

    def waiting(self) -> int:
        """Frames of this client waiting behind the one being handled (conversations.batching
        serves sockets without a backlog first)."""
        qsize = getattr(self.inbox, "qsize", None)
        return qsize() if qsize is not None else 0

    def presence_entries(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(entries to add, to remove) the watchdog renews for this socket (presence.refresh)."""
        return [], []

    async def websocket_disconnect(self, message):
        # Channels' own version first awaits group_discard for each of self.groups, one shard
        # lock at a time, where a mass disconnect queued and daphne cancelled it, leaving the
        # groups subscribed (pitfall 9); then a thread hop for close_old_connections (pitfall 4).
        # disconnect() leaves the layer at once instead.
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        self.disconnected = True
        if self.watched:
            housekeeping.unwatch(self)
        # The pub/sub layer is left at once, before anything here awaits (pitfall 9).
        if housekeeping.release(self.channel_layer, self.channel_name, self.groups):
            return
        for group in self.groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.exception("group_discard from %s failed", group)

    # Ordered delivery (docs/realtime.md, guarantee 5): each socket gets a conversation's
    # messages in seq order, without holes, whatever order the channel layer brings them in.
    # Two transactions of one conversation commit in seq order (the row lock) but publish from
    # different threads or processes, so a later message's frame can overtake an earlier one
    # (a reply overtaking the router's "joined" line, whose frames wait for the routing step's
    # other after-commit work). The earlier message is committed by then, so it is read from
    # the database and sent first as its own `message.created`; its late frame is dropped.

    async def in_order(self, conversation_id: int, seq: int) -> bool:
        """Send what comes before `seq` first; False if `seq` was already passed (drop it)."""
        after = self.sent_seq.get(conversation_id)
        if after is None and self.role == "agent":
            self.sent_seq[conversation_id] = seq  # nothing known before: the first frame
            return True
        after = after or 0
        if seq < after:
            return False
        await self.fill_before(conversation_id, seq)
        return True

    async def fill_before(self, conversation_id: int, seq: int) -> None:
        after = self.sent_seq.get(conversation_id, 0)
        for_agents = self.role == "agent"
        while seq > after + 1:
            page, _has_more = await database_sync_to_async(selectors.message_history_after)(
                merchant_id=self.merchant_id,
                conversation_id=conversation_id,
                after_seq=after,
                include_private=for_agents,
            )
            missed = [m for m in page if m.seq < seq]
            if not missed:
                break  # only private notes in between (a visitor never sees those)
            for m in missed:
                await self.send_frame(
                    protocol.MessageCreatedFrame(
                        message=realtime.message_out(m, for_agents=for_agents)
                    )
                )
            after = missed[-1].seq
            self.sent_seq[conversation_id] = after
        self.sent_seq[conversation_id] = max(self.sent_seq.get(conversation_id, 0), seq)

    async def send_ack(self, message, created: bool, client_msg_id: str) -> None:
        if self.role == "visitor" or message.conversation_id in self.sent_seq:
            await self.fill_before(message.conversation_id, message.seq)
        await self.send_frame(
            protocol.MessageAckFrame(
                client_msg_id=client_msg_id,
                message=realtime.message_out(message, for_agents=self.role == "agent"),
                duplicate=not created,
            )
        )

    async def replay(
        self,
        conversation_id: int,
        after_seq: int,
        include_private: bool,
        first_page: tuple[list, bool] | None = None,
    ) -> int:
        """Send every visible message with seq > after_seq, in pages; returns the last seq
        sent (after_seq if none). `first_page`: the first page, already read by the caller."""
        has_more = True
        while has_more:
            if first_page is not None:
                (messages, has_more), first_page = first_page, None
            else:
                messages, has_more = await database_sync_to_async(selectors.message_history_after)(
                    merchant_id=self.merchant_id,
                    conversation_id=conversation_id,
                    after_seq=after_seq,
                    include_private=include_private,
                )
            if not messages:
                break
            await self.send_frame(
                protocol.HistoryFrame(
                    conversation_id=conversation_id,
                    messages=[
                        realtime.message_out(m, for_agents=self.role == "agent") for m in messages
                    ],
                    has_more=has_more,
                )
            )
            after_seq = messages[-1].seq
        return after_seq


_UNREADABLE = object()  # a frame that is too large or not JSON


def _ref(data) -> str | None:
    return protocol.client_ref(data)


def heartbeat_interval() -> int:
    return max(1, min(25, settings.WS_HEARTBEAT_TIMEOUT // 3))
