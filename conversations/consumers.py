"""WebSocket consumers: authenticate, validate a frame, call a service, reply. No ORM here.

Frames are defined in protocol.py; who receives an event is decided in realtime.py.
"""

from __future__ import annotations

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from kefu.errors import KefuError
from merchants.selectors import membership_get

from . import protocol, realtime, selectors, services
from .protocol import ErrorCode, FrameError
from .tokens import visitor_token_verify

logger = logging.getLogger(__name__)


class FrameConsumer(AsyncWebsocketConsumer):
    """Shared frame handling: size limit, JSON decoding, validation, error frames."""

    role = ""  # "visitor" or "agent"
    groups: list[str]

    async def dispatch(self, message):
        # Channels runs close_old_connections() through a thread hop before every handler
        # (REALTIME-NOTES pitfall 4). Handlers that touch the database do so only through
        # database_sync_to_async, which closes stale connections itself, so skip the hop.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send_frame(self, frame: protocol.Frame) -> None:
        await self.send(text_data=frame.model_dump_json())

    async def send_error(
        self, code: str, message: str, *, ref: str | None = None, fields: dict | None = None
    ) -> None:
        await self.send_frame(
            protocol.ErrorFrame(code=code, message=message, ref=ref, fields=fields or {})
        )

    async def receive(self, text_data=None, bytes_data=None):
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        if size > protocol.MAX_FRAME_BYTES:
            await self.send_error(ErrorCode.FRAME_TOO_LARGE, "The frame is too large.")
            return
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
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

    async def disconnect(self, code):
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- Events from realtime.py: forward the frame as it is ----------------------------------

    async def message_created(self, event):
        await self.send(text_data=json.dumps(event["frame"], ensure_ascii=False))

    async def send_ack(self, message, created: bool, client_msg_id: str) -> None:
        await self.send_frame(
            protocol.MessageAckFrame(
                client_msg_id=client_msg_id,
                message=realtime.message_out(message),
                duplicate=not created,
            )
        )


def _ref(data) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("client_msg_id"), str):
        return data["client_msg_id"][:64]
    return None


class VisitorConsumer(FrameConsumer):
    """A visitor's widget. The origin was checked against the widget key before connect
    (kefu.asgi); the first frame must be `auth` with the bootstrap token."""

    role = "visitor"

    async def connect(self):
        self.groups = []
        self.merchant_id = self.scope["kefu_merchant_id"]
        self.visitor_id: int | None = None
        await self.accept()

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
        self.visitor_id = claims.visitor_id
        # Join first, then read the history: a message committed in between is then both
        # replayed and delivered, and the client drops the second copy by its seq. The other
        # order could lose it.
        await self.join(realtime.visitor_group(self.visitor_id))
        conversation = await database_sync_to_async(selectors.conversation_current_for_visitor)(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id
        )
        await self.send_frame(
            protocol.SessionReadyFrame(
                role="visitor",
                merchant_id=self.merchant_id,
                visitor_id=self.visitor_id,
                conversation=(
                    realtime.visitor_conversation_out(conversation) if conversation else None
                ),
            )
        )
        if conversation is not None:
            await self.replay(conversation.pk, frame.last_seq)

    async def replay(self, conversation_id: int, after_seq: int) -> None:
        """Send every visible message with seq > after_seq, in pages."""
        has_more = True
        while has_more:
            messages, has_more = await database_sync_to_async(selectors.message_history_after)(
                merchant_id=self.merchant_id, conversation_id=conversation_id,
                after_seq=after_seq, include_private=False,
            )
            if not messages:
                return
            await self.send_frame(
                protocol.HistoryFrame(
                    conversation_id=conversation_id,
                    messages=[realtime.message_out(m) for m in messages],
                    has_more=has_more,
                )
            )
            after_seq = messages[-1].seq

    async def frame_message_send(self, frame: protocol.MessageSendFrame) -> None:
        if frame.private or frame.conversation_id is not None:
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "Visitors cannot set these fields.",
                {k: "not allowed for visitors" for k in ("private", "conversation_id")
                 if getattr(frame, k)},
                ref=frame.client_msg_id,
            )
        message, created = await database_sync_to_async(services.message_send_by_visitor)(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id,
            client_msg_id=frame.client_msg_id, body=frame.body,
        )
        await self.send_ack(message, created, frame.client_msg_id)

    async def frame_conversation_read(self, frame: protocol.ConversationReadFrame) -> None:
        await database_sync_to_async(services.conversation_mark_read_by_visitor)(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id,
            conversation_id=frame.conversation_id, seq=frame.seq,
        )


class AgentConsumer(FrameConsumer):
    """An agent's workspace, authenticated by the Django session; one socket per merchant."""

    role = "agent"

    async def connect(self):
        self.groups = []
        self.merchant_id = int(self.scope["url_route"]["kwargs"]["merchant_id"])
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
        await self.send_frame(
            protocol.SessionReadyFrame(
                role="agent",
                merchant_id=self.merchant_id,
                user_id=user.pk,
                display_name=self.membership.display_name,
            )
        )

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
        if frame.conversation_id is None:
            raise FrameError(
                ErrorCode.INVALID_FRAME, "The frame is not valid.",
                {"conversation_id": "required for agents"},
            )
        await database_sync_to_async(services.conversation_mark_read_by_agent)(
            merchant_id=self.merchant_id, conversation_id=frame.conversation_id, seq=frame.seq
        )

    async def conversation_updated(self, event):
        await self.send(text_data=json.dumps(event["frame"], ensure_ascii=False))
