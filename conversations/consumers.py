"""WebSocket consumers: authenticate, validate a frame, call a service, reply. No ORM here.

Frames are defined in protocol.py; who receives a stored event is decided in realtime.py.
Ephemeral state (presence, typing, who is viewing) lives in presence.py and is published from
here, because nothing is committed for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from kefu.errors import KefuError
from merchants import services as merchant_services
from merchants.selectors import membership_get, membership_list_for_merchant

from . import batching, presence, protocol, realtime, routing, selectors, services
from .protocol import ErrorCode, FrameError
from .tokens import visitor_token_verify

logger = logging.getLogger(__name__)

# Channel-layer events whose frame is forwarded to the client as it is.
FORWARDED = {
    "message.created", "conversation.updated", "conversation.read", "typing",
    "presence.changed", "visitor.updated", "viewers.changed", "conversation.state",
    "queue.changed", "routing.event", "notification",
}
PRESENCE_REFRESH_SECONDS = 20.0


class TokenBucket:
    """Per-socket rate limit: `rate` frames per second sustained, `burst` at once."""

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
        self.groups = []
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)
        self.last_frame = time.monotonic()
        self.watchdog: asyncio.Task | None = None

    async def dispatch(self, message):
        # Channels runs close_old_connections() through a thread hop before every handler
        # (REALTIME-NOTES pitfall 4). Database work here happens only inside
        # database_sync_to_async, which does that clean-up itself, so skip the hop.
        kind = message["type"]
        if kind in FORWARDED:
            if message.get("sender") != self.channel_name:  # never echo to the source socket
                await self.send(text_data=json.dumps(message["frame"], ensure_ascii=False))
            return
        handler = getattr(self, kind.replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {kind}")
        await handler(message)

    async def send_frame(self, frame: protocol.Frame) -> None:
        await self.send(text_data=frame.model_dump_json())

    async def send_error(self, code: str, message: str, *, ref: str | None = None,
                         fields: dict | None = None, retry_after: float | None = None) -> None:
        await self.send_frame(protocol.ErrorFrame(
            code=code, message=message, ref=ref, fields=fields or {}, retry_after=retry_after,
        ))

    async def publish(self, group: str, frame: protocol.Frame) -> None:
        """Ephemeral event to a group, skipping this socket."""
        data = frame.model_dump(mode="json")
        try:
            await self.channel_layer.group_send(
                group, {"type": data["type"], "frame": data, "sender": self.channel_name}
            )
        except Exception:
            realtime.send_failed(group)

    async def receive(self, text_data=None, bytes_data=None):
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        self.last_frame = time.monotonic()
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        data = _UNREADABLE
        if size <= protocol.MAX_FRAME_BYTES:
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                pass
        # Every frame but a well-formed ping is charged, refused ones (too large, not JSON,
        # invalid) included: otherwise a flood of garbage is answered at full speed.
        if data != {"type": "ping"}:
            wait = self.bucket.take()
            if wait:
                # At least 1 ms: a wait that rounds to 0 would read as "retry now".
                await self.send_error(ErrorCode.RATE_LIMITED, "Too many frames; slow down.",
                                      ref=_ref(data), retry_after=max(round(wait, 3), 0.001))
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
        self.watchdog = asyncio.ensure_future(self._watch())

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            # A handler that raised ends the consumer before its websocket.disconnect arrives
            # (seen: a broadcast sent to a socket the client had just closed, "Attempt to send
            # on a closed protocol"). Clean up anyway, or the socket's presence entry keeps a
            # visitor's tab slot taken (too_many_sockets) until it expires. A cancelled
            # consumer (process shutdown) is not an Exception: its entries expire on their own.
            if hasattr(self, "watchdog") and not getattr(self, "disconnected", False):
                try:
                    await self.disconnect(1006)
                except Exception:
                    logger.exception("clean-up of a consumer that failed before its disconnect")
            raise
        finally:
            # The server can drop the application without a disconnect (daphne cancels one
            # that outlives application_close_timeout). The watchdog must not outlive it, or it
            # keeps refreshing the dead socket's presence entries instead of letting them expire.
            if getattr(self, "watchdog", None) is not None:
                self.watchdog.cancel()

    async def _watch(self) -> None:
        """Close a socket whose client went silent (no ping), and keep presence entries fresh
        while it lives: a dead process's entries expire on their own."""
        timeout = settings.WS_HEARTBEAT_TIMEOUT
        tick = min(PRESENCE_REFRESH_SECONDS, max(timeout / 3, 0.2))
        while True:
            await asyncio.sleep(tick)
            if time.monotonic() - self.last_frame > timeout:
                await self.close(code=4408)
                return
            try:
                await self.refresh_presence()
            except Exception:
                logger.exception("presence refresh failed")

    async def refresh_presence(self) -> None:
        pass

    async def disconnect(self, code):
        self.disconnected = True
        if self.watchdog is not None:
            self.watchdog.cancel()
        for group in self.groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.exception("group_discard from %s failed", group)

    async def send_ack(self, message, created: bool, client_msg_id: str) -> None:
        await self.send_frame(
            protocol.MessageAckFrame(
                client_msg_id=client_msg_id,
                message=realtime.message_out(message, for_agents=self.role == "agent"),
                duplicate=not created,
            )
        )

    async def replay(self, conversation_id: int, after_seq: int, include_private: bool,
                     first_page: tuple[list, bool] | None = None) -> int:
        """Send every visible message with seq > after_seq, in pages; returns the last seq
        sent (after_seq if none). `first_page`: the first page, already read by the caller."""
        has_more = True
        while has_more:
            if first_page is not None:
                (messages, has_more), first_page = first_page, None
            else:
                messages, has_more = await database_sync_to_async(selectors.message_history_after)(
                    merchant_id=self.merchant_id, conversation_id=conversation_id,
                    after_seq=after_seq, include_private=include_private,
                )
            if not messages:
                break
            await self.send_frame(
                protocol.HistoryFrame(
                    conversation_id=conversation_id,
                    messages=[realtime.message_out(m, for_agents=self.role == "agent") for m in messages],
                    has_more=has_more,
                )
            )
            after_seq = messages[-1].seq
        return after_seq


_UNREADABLE = object()  # a frame that is too large or not JSON


def _ref(data) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("client_msg_id"), str):
        return data["client_msg_id"][:64]
    return None


class VisitorConsumer(FrameConsumer):
    """A visitor's widget. The origin was checked against the widget key before connect
    (kefu.asgi); the first frame must be `auth` with the bootstrap token."""

    role = "visitor"

    async def connect(self):
        self.setup()
        self.merchant_id = self.scope["kefu_merchant_id"]
        self.visitor_id: int | None = None
        self.visitor = None
        self.conversation_id: int | None = None
        self.registered = False
        self.sent_seq: dict[int, int] = {}  # see fill_before
        await self.accept()
        self.start_watchdog()

    async def handle_frame(self, frame):
        if isinstance(frame, protocol.AuthFrame):
            if self.visitor_id is not None:
                await self.send_error(ErrorCode.ALREADY_AUTHENTICATED, "Already authenticated.")
                return
            await self.authenticate(frame)
            return
        if self.visitor_id is None and not isinstance(frame, protocol.PingFrame):
            await self.send_error(ErrorCode.AUTH_REQUIRED, "Send auth first.")
            return
        await super().handle_frame(frame)

    async def authenticate(self, frame: protocol.AuthFrame) -> None:
        try:
            claims = visitor_token_verify(frame.token)
        except KefuError as exc:
            await self.send_error(exc.code, exc.message)
            await self.close(code=4401)
            return
        if claims.merchant_id != self.merchant_id:
            await self.send_error(ErrorCode.MERCHANT_MISMATCH, "The token is for another merchant.")
            await self.close(code=4403)
            return
        sockets = await presence.visitor_socket_up(self.merchant_id, claims.visitor_id, self.channel_name)
        if sockets > settings.WS_MAX_SOCKETS_PER_VISITOR:
            await presence.visitor_socket_down(self.merchant_id, claims.visitor_id, self.channel_name)
            await self.send_error(ErrorCode.TOO_MANY_SOCKETS, "Too many open chat windows.")
            await self.close(code=4429)
            return
        self.visitor_id = claims.visitor_id
        self.registered = True
        # Join first, then read the history: a message committed in between is then both
        # replayed and delivered, and the client drops the second copy by its seq. The other
        # order could lose it.
        await self.join(realtime.visitor_group(self.visitor_id))
        # One trip to the database thread for the visitor, the conversation and the first page
        # to replay: in a reconnect storm every socket queues for that one thread.
        self.visitor, conversation, first_page = await database_sync_to_async(self._load)(frame.last_seq)
        if self.visitor is None:
            await self.send_error(ErrorCode.TOKEN_INVALID, "The visitor no longer exists.")
            await self.close(code=4401)
            return
        self.conversation_id = conversation.pk if conversation else None
        await self.send_frame(
            protocol.SessionReadyFrame(
                role="visitor",
                merchant_id=self.merchant_id,
                visitor_id=self.visitor_id,
                conversation=(
                    realtime.visitor_conversation_out(conversation) if conversation else None
                ),
                heartbeat_seconds=_heartbeat_interval(),
            )
        )
        if conversation is not None:
            self.sent_seq[conversation.pk] = await self.replay(
                conversation.pk, frame.last_seq, include_private=False, first_page=first_page
            )
            if conversation.queued_at is not None and conversation.assignee_id is None:
                # Waiting for an agent: where in the queue, and for how long about.
                state = await database_sync_to_async(routing.visitor_state)(
                    merchant_id=self.merchant_id, conversation_id=conversation.pk)
                if state is not None:
                    await self.send_frame(protocol.VisitorConversationStateFrame(conversation=state))
        if sockets == 1:
            await self.publish(
                realtime.agents_group(self.merchant_id),
                protocol.VisitorUpdatedFrame(visitor=realtime.visitor_out(self.visitor, True)),
            )

    def _load(self, last_seq: int):
        conversation = selectors.conversation_current_for_visitor(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id
        )
        if conversation is None:
            try:
                visitor = selectors.visitor_get(merchant_id=self.merchant_id, visitor_id=self.visitor_id)
            except KefuError:
                return None, None, None
            return visitor, None, None
        # The conversation is the merchant's and the visitor's, so is the visitor it carries.
        return conversation.visitor, conversation, selectors.message_history_after(
            merchant_id=self.merchant_id, conversation_id=conversation.pk, after_seq=last_seq,
            include_private=False,
        )

    # A visitor cannot tell a lost message from a private note (both leave a gap in the seqs it
    # sees), so the server keeps each visitor socket free of holes: `sent_seq[c]` is the seq up
    # to which this socket has been sent every message of conversation c the visitor may see.
    # Before a newer message goes out (broadcast or ack), what it would skip is read from the
    # database and sent first. An event lost on the way (Redis restart, a process killed
    # between commit and publish) or overtaken by a later one (two processes publishing) is
    # filled in, so the client's highest shown seq stays a safe `last_seq` to resume from.

    async def dispatch(self, message):
        if message["type"] == "message.created":
            created = message["frame"]["message"]
            await self.fill_before(created["conversation_id"], created["seq"])
            # Another tab may have started the conversation (or a new one after a close):
            # follow it, or this tab's typing would be dropped or go to the old conversation.
            self.conversation_id = created["conversation_id"]
        await super().dispatch(message)

    async def send_ack(self, message, created: bool, client_msg_id: str) -> None:
        await self.fill_before(message.conversation_id, message.seq)
        await super().send_ack(message, created, client_msg_id)

    async def fill_before(self, conversation_id: int, seq: int) -> None:
        after = self.sent_seq.get(conversation_id, 0)
        while seq > after + 1:
            page, has_more = await database_sync_to_async(selectors.message_history_after)(
                merchant_id=self.merchant_id, conversation_id=conversation_id, after_seq=after,
                include_private=False,
            )
            missed = [m for m in page if m.seq < seq]
            if not missed:
                break  # only private notes in between
            after = missed[-1].seq
            await self.send_frame(protocol.HistoryFrame(
                conversation_id=conversation_id,
                messages=[realtime.message_out(m, for_agents=False) for m in missed],
                has_more=has_more and len(missed) == len(page),
            ))
        self.sent_seq[conversation_id] = max(self.sent_seq.get(conversation_id, 0), seq)

    async def refresh_presence(self) -> None:
        if self.registered:
            await presence.visitor_socket_up(self.merchant_id, self.visitor_id, self.channel_name)

    async def disconnect(self, code):
        await super().disconnect(code)
        if not self.registered:
            return
        left = await presence.visitor_socket_down(self.merchant_id, self.visitor_id, self.channel_name)
        if left == 0 and self.visitor is not None:
            # Another tab may have moved to another page since this one loaded the visitor;
            # agents replace their copy with this frame, so send the stored row.
            try:
                self.visitor = await database_sync_to_async(selectors.visitor_get)(
                    merchant_id=self.merchant_id, visitor_id=self.visitor_id
                )
            except KefuError:
                pass
            await self.publish(
                realtime.agents_group(self.merchant_id),
                protocol.VisitorUpdatedFrame(visitor=realtime.visitor_out(self.visitor, False)),
            )
            if self.conversation_id:
                await self.publish(realtime.agents_group(self.merchant_id), protocol.TypingOutFrame(
                    conversation_id=self.conversation_id, sender_kind="visitor", active=False,
                ))

    async def frame_message_send(self, frame: protocol.MessageSendFrame) -> None:
        if frame.private or frame.conversation_id is not None:
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "Visitors cannot set these fields.",
                {k: "not allowed for visitors" for k in ("private", "conversation_id")
                 if getattr(frame, k)},
                ref=frame.client_msg_id,
            )
        # Stored together with the other sockets' pending sends, one commit per batch
        # (conversations.batching); acknowledged only after that commit.
        message, created = await batching.writer().send(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id,
            client_msg_id=frame.client_msg_id, body=frame.body, team_id=frame.team_id,
        )
        self.conversation_id = message.conversation_id
        await self.send_ack(message, created, frame.client_msg_id)

    async def frame_conversation_read(self, frame: protocol.ConversationReadFrame) -> None:
        await database_sync_to_async(services.conversation_mark_read_by_visitor)(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id,
            conversation_id=frame.conversation_id, seq=frame.seq,
        )

    async def frame_typing(self, frame: protocol.TypingFrame) -> None:
        if frame.conversation_id is not None:
            raise FrameError(ErrorCode.INVALID_FRAME, "The frame is not valid.",
                             {"conversation_id": "not allowed for visitors"})
        if self.conversation_id is None:
            return  # nothing to type into yet; the first message starts the conversation
        # `text` is optional (a widget need not share its draft): only an empty draft means
        # "stopped"; a frame without text is plain typing, not a stop.
        active = frame.active and (frame.text is None or bool(frame.text.strip()))
        await self.publish(realtime.agents_group(self.merchant_id), protocol.TypingOutFrame(
            conversation_id=self.conversation_id, sender_kind="visitor",
            active=active, text=frame.text,
        ))

    async def frame_page_view(self, frame: protocol.PageViewFrame) -> None:
        self.visitor = await database_sync_to_async(services.visitor_page_view)(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id, url=frame.url,
            title=frame.title,
        )

    async def frame_handover_request(self, frame: protocol.HandoverRequestFrame) -> None:
        # The answer is the bot's hand-over line and `conversation.state` (bot_active false),
        # published to all of this visitor's tabs. When a person already has the conversation
        # this socket alone gets the current state, so the widget stops saying "connecting".
        from . import bot

        handed_over, conversation_id = await database_sync_to_async(bot.visitor_handover_request)(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id,
        )
        if not handed_over:
            state = await database_sync_to_async(routing.visitor_state)(
                merchant_id=self.merchant_id, conversation_id=conversation_id)
            if state is not None:
                await self.send_frame(protocol.VisitorConversationStateFrame(conversation=state))


def _heartbeat_interval() -> int:
    return max(1, min(25, settings.WS_HEARTBEAT_TIMEOUT // 3))


class AgentConsumer(FrameConsumer):
    """An agent's workspace, authenticated by the Django session; one socket per merchant."""

    role = "agent"

    async def connect(self):
        self.setup()
        self.merchant_id = int(self.scope["url_route"]["kwargs"]["merchant_id"])
        self.registered = False
        self.viewing: int | None = None
        self.known_conversations: set[int] = set()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.membership = await database_sync_to_async(membership_get)(
            merchant_id=self.merchant_id, user=user
        )
        if self.membership is None:
            await self.close(code=4403)
            return
        self.sender = services.Sender.agent(self.membership)
        await self.accept()
        await self.join(realtime.agents_group(self.merchant_id))
        await self.join(realtime.agent_group(self.merchant_id, user.pk))
        await presence.agent_socket_up(self.merchant_id, user.pk, self.channel_name)
        self.registered = True
        self.start_watchdog()
        agents = await self._agents()
        teams = await database_sync_to_async(routing.teams_out)(merchant_id=self.merchant_id)
        await self.send_frame(
            protocol.SessionReadyFrame(
                role="agent",
                merchant_id=self.merchant_id,
                user_id=user.pk,
                display_name=self.membership.display_name,
                agents=agents,
                teams=teams,
                heartbeat_seconds=_heartbeat_interval(),
            )
        )
        await self.send_frame(
            await database_sync_to_async(routing.queue_frame)(merchant_id=self.merchant_id)
        )
        await self.publish_presence()
        await self.drain_queue()

    async def drain_queue(self) -> None:
        """This agent may just have become available: serve the queue (routing)."""
        if not self.membership.is_away:
            await database_sync_to_async(routing.queue_drain)(merchant_id=self.merchant_id)

    async def _agents(self) -> list[protocol.AgentOut]:
        memberships = await database_sync_to_async(
            lambda: list(membership_list_for_merchant(merchant_id=self.merchant_id))
        )()
        connected = await presence.agents_connected(self.merchant_id, [m.user_id for m in memberships])
        return [
            protocol.AgentOut(
                user_id=m.user_id, name=m.display_name,
                status=presence.agent_status(connected=connected[m.user_id], away=m.is_away),
            )
            for m in memberships
        ]

    async def publish_presence(self) -> None:
        user_id = self.membership.user_id
        connected = (await presence.agents_connected(self.merchant_id, [user_id]))[user_id]
        frame = protocol.PresenceChangedFrame(agent=protocol.AgentOut(
            user_id=user_id, name=self.membership.display_name,
            status=presence.agent_status(connected=connected, away=self.membership.is_away),
        ))
        # Unlike other ephemeral events this one also reaches the agent's own socket, so every
        # tab (this one included) shows the same status.
        await realtime.apublish(realtime.agents_group(self.merchant_id), frame)

    async def refresh_presence(self) -> None:
        if self.registered:
            await presence.agent_socket_up(self.merchant_id, self.membership.user_id, self.channel_name)
            if self.viewing:
                await presence.viewer_set(self.merchant_id, self.viewing, self.membership.user_id,
                                          self.channel_name)

    async def disconnect(self, code):
        await super().disconnect(code)
        if not self.registered:
            return
        await presence.agent_socket_down(self.merchant_id, self.membership.user_id, self.channel_name)
        await self.set_viewing(None)
        # Another tab may have switched "away" on or off since this one connected: publish the
        # stored switch, not this socket's copy of it.
        fresh = await database_sync_to_async(membership_get)(
            merchant_id=self.merchant_id, user=self.scope["user"]
        )
        if fresh is not None:
            self.membership = fresh
        await self.publish_presence()

    async def check_conversations(self, ids: list[int]) -> set[int]:
        """Which of these conversations belong to this merchant (remembered per socket)."""
        unknown = [i for i in ids if i not in self.known_conversations]
        if unknown:
            self.known_conversations |= await database_sync_to_async(
                selectors.conversation_ids_existing
            )(merchant_id=self.merchant_id, conversation_ids=unknown)
        return {i for i in ids if i in self.known_conversations}

    async def require_conversation(self, conversation_id: int | None) -> int:
        if conversation_id is None:
            raise FrameError(ErrorCode.INVALID_FRAME, "The frame is not valid.",
                             {"conversation_id": "required for agents"})
        if not await self.check_conversations([conversation_id]):
            raise KefuError(ErrorCode.NOT_FOUND, "Conversation not found.")
        return conversation_id

    async def frame_message_send(self, frame: protocol.MessageSendFrame) -> None:
        if frame.conversation_id is None:
            raise FrameError(
                ErrorCode.INVALID_FRAME, "The frame is not valid.",
                {"conversation_id": "required for agents"}, ref=frame.client_msg_id,
            )
        message, created = await database_sync_to_async(services.message_send_by_agent)(
            merchant_id=self.merchant_id, conversation_id=frame.conversation_id,
            sender=self.sender, client_msg_id=frame.client_msg_id, body=frame.body,
            private=frame.private,
        )
        await self.send_ack(message, created, frame.client_msg_id)

    async def frame_conversation_read(self, frame: protocol.ConversationReadFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_mark_read_by_agent)(
            merchant_id=self.merchant_id, conversation_id=conversation_id, seq=frame.seq,
            user_id=self.membership.user_id,
        )

    async def frame_resume(self, frame: protocol.ResumeFrame) -> None:
        mine = await self.check_conversations(list(frame.conversations))
        for conversation_id, last_seq in sorted(frame.conversations.items()):
            if conversation_id in mine:
                await self.replay(conversation_id, last_seq, include_private=True)
        await self.send_frame(protocol.ResumeDoneFrame())

    async def frame_typing(self, frame: protocol.TypingFrame) -> None:
        if frame.text is not None:
            raise FrameError(ErrorCode.INVALID_FRAME, "The frame is not valid.",
                             {"text": "agents send `active` only"})
        conversation_id = await self.require_conversation(frame.conversation_id)
        visitor_id = await database_sync_to_async(self._visitor_of)(conversation_id)
        user_id = self.membership.user_id
        await self.publish(realtime.visitor_group(visitor_id), protocol.TypingOutFrame(
            conversation_id=conversation_id, sender_kind="agent", active=frame.active,
        ))
        await self.publish(realtime.agents_group(self.merchant_id), protocol.TypingOutFrame(
            conversation_id=conversation_id, sender_kind="agent", user_id=user_id,
            name=self.membership.display_name, active=frame.active,
        ))
        await presence.viewer_set(self.merchant_id, conversation_id, user_id, self.channel_name,
                                  typing=frame.active)
        if self.viewing not in (None, conversation_id):
            await presence.viewer_clear(self.merchant_id, self.viewing, user_id, self.channel_name)
            await self.publish_viewers(self.viewing)
        self.viewing = conversation_id
        await self.publish_viewers(conversation_id)

    def _visitor_of(self, conversation_id: int) -> int:
        return selectors.conversation_get(
            merchant_id=self.merchant_id, conversation_id=conversation_id
        ).visitor_id

    async def frame_presence_set(self, frame: protocol.PresenceSetFrame) -> None:
        self.membership = await database_sync_to_async(merchant_services.membership_set_away)(
            merchant_id=self.merchant_id, user_id=self.membership.user_id,
            away=frame.status == "away",
        )
        await self.publish_presence()
        await self.drain_queue()

    async def frame_conversation_view(self, frame: protocol.ConversationViewFrame) -> None:
        target = frame.conversation_id
        if target is not None:
            await self.require_conversation(target)
        await self.set_viewing(target)

    async def set_viewing(self, conversation_id: int | None) -> None:
        previous, user_id = self.viewing, self.membership.user_id
        if previous == conversation_id:
            return
        if previous is not None:
            await presence.viewer_clear(self.merchant_id, previous, user_id, self.channel_name)
        if conversation_id is not None:
            await presence.viewer_set(self.merchant_id, conversation_id, user_id, self.channel_name)
        self.viewing = conversation_id
        for changed in (previous, conversation_id):
            if changed is not None:
                await self.publish_viewers(changed)

    async def publish_viewers(self, conversation_id: int) -> None:
        viewers = await presence.viewers(self.merchant_id, conversation_id)
        names = await database_sync_to_async(self._names)([v.user_id for v in viewers])
        frame = protocol.ViewersChangedFrame(
            conversation_id=conversation_id,
            viewers=[protocol.ViewerOut(user_id=v.user_id, name=names.get(v.user_id, ""),
                                        typing=v.typing) for v in viewers],
        )
        await realtime.apublish(realtime.agents_group(self.merchant_id), frame)

    def _names(self, user_ids: list[int]) -> dict[int, str]:
        return dict(
            membership_list_for_merchant(merchant_id=self.merchant_id)
            .filter(user_id__in=user_ids).values_list("user_id", "display_name")
        )

    # --- Routing actions: the services check roles and races and raise KefuError ------------

    async def frame_conversation_claim(self, frame: protocol.ConversationClaimFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(routing.conversation_claim)(
            merchant_id=self.merchant_id, conversation_id=conversation_id,
            user_id=self.membership.user_id,
        )

    async def frame_conversation_transfer(self, frame: protocol.ConversationTransferFrame) -> None:
        if (frame.to_user_id is None) == (frame.to_team_id is None):
            raise FrameError(ErrorCode.INVALID_FRAME, "The frame is not valid.",
                             {"to_user_id": "give to_user_id or to_team_id, not both"})
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(routing.conversation_transfer)(
            merchant_id=self.merchant_id, conversation_id=conversation_id,
            actor_user_id=self.membership.user_id, to_user_id=frame.to_user_id,
            to_team_id=frame.to_team_id, note=frame.note,
        )

    async def frame_conversation_status(self, frame: protocol.ConversationStatusFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(routing.conversation_set_status)(
            merchant_id=self.merchant_id, conversation_id=conversation_id,
            actor_user_id=self.membership.user_id, status=frame.status,
        )
