"""A visitor's widget socket: the `auth` frame with the bootstrap token, the visitor's group,
history without holes, then one handler per client frame (docs/protocol.md)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.conf import settings

from kefu import ratelimit
from kefu.errors import KefuError

from .. import batching, presence, protocol, realtime, selectors, services
from ..protocol import ErrorCode, FrameError
from ..tokens import visitor_token_verify
from .base import FrameConsumer, heartbeat_interval


class VisitorConsumer(FrameConsumer):
    """A visitor's widget. The origin was checked against the widget key before connect
    (kefu.asgi); the first frame must be `auth` with the bootstrap token."""

    role = "visitor"

    async def connect(self):
        self.setup()
        if await self.refused_for_rate():
            return
        self.merchant_id = self.scope["kefu_merchant_id"]
        self.visitor_id: int | None = None
        self.ready = False  # authenticated and its visitor row found
        self.conversation_id: int | None = None
        self.registered = False
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
        # Token guessing: after WS_AUTH_FAILURES_PER_ADDRESS failures from one address, its
        # tokens are not even checked for a while (4429), valid ones included.
        failures = ratelimit.setting("WS_AUTH_FAILURES_PER_ADDRESS")
        wait = await ratelimit.ahit(failures, self.address, count=False)
        if wait:
            await self.send_error(
                ErrorCode.RATE_LIMITED, "Too many failed sign-ins; wait.", retry_after=wait
            )
            await self.close(code=4429)
            return
        try:
            claims = visitor_token_verify(frame.token)
        except KefuError as exc:
            await ratelimit.ahit(failures, self.address)
            await self.send_error(exc.code, exc.message)
            await self.close(code=4401)
            return
        if claims.merchant_id != self.merchant_id:
            await self.send_error(ErrorCode.MERCHANT_MISMATCH, "The token is for another merchant.")
            await self.close(code=4403)
            return
        sockets = await presence.visitor_socket_up(
            self.merchant_id, claims.visitor_id, self.channel_name
        )
        if sockets > settings.WS_MAX_SOCKETS_PER_VISITOR:
            await presence.visitor_socket_down(
                self.merchant_id, claims.visitor_id, self.channel_name
            )
            await self.send_error(ErrorCode.TOO_MANY_SOCKETS, "Too many open chat windows.")
            await self.close(code=4429)
            return
        self.visitor_id = claims.visitor_id
        self.registered = True
        # Join first, then read the history: a message committed in between is then both
        # replayed and delivered, and the client drops the second copy by its seq. The other
        # order could lose it.
        await self.join(realtime.visitor_group(self.visitor_id))
        await self.join(realtime.visitors_group(self.merchant_id))
        # One trip to the database thread for the visitor, the conversation and the first page
        # to replay: in a reconnect storm every socket queues for that one thread.
        visitor, conversation, first_page, availability = await database_sync_to_async(self._load)(
            frame.last_seq
        )
        if visitor is None:
            await self.send_error(ErrorCode.TOKEN_INVALID, "The visitor no longer exists.")
            await self.close(code=4401)
            return
        # The row is not kept: at 10,000 idle sockets a Visitor instance with its row's values
        # was about 2.7 KB per socket; the disconnect reads the current row anyway.
        self.ready = True
        self.conversation_id = conversation.pk if conversation else None
        await self.send_frame(
            protocol.SessionReadyFrame(
                role="visitor",
                merchant_id=self.merchant_id,
                visitor_id=self.visitor_id,
                conversation=(
                    realtime.visitor_conversation_out(conversation) if conversation else None
                ),
                heartbeat_seconds=heartbeat_interval(),
                availability=availability,
            )
        )
        if conversation is not None:
            self.sent_seq[conversation.pk] = await self.replay(
                conversation.pk, frame.last_seq, include_private=False, first_page=first_page
            )
            if conversation.queued_at is not None and conversation.assignee_id is None:
                # Waiting for an agent: where in the queue, and for how long about.
                state = await database_sync_to_async(selectors.visitor_state)(
                    merchant_id=self.merchant_id, conversation_id=conversation.pk
                )
                if state is not None:
                    await self.send_frame(
                        protocol.VisitorConversationStateFrame(conversation=state)
                    )
        if sockets == 1:
            await self.publish(
                realtime.agents_group(self.merchant_id),
                protocol.VisitorUpdatedFrame(visitor=realtime.visitor_out(visitor, True)),
            )

    def _load(self, last_seq: int):
        """(visitor, conversation, first history page, availability): the availability read
        after joining the merchant's visitors group, so a change in between is not lost."""
        return (
            *self._load_conversation(last_seq),
            selectors.visitor_availability_for(merchant_id=self.merchant_id),
        )

    def _load_conversation(self, last_seq: int):
        conversation = selectors.conversation_current_for_visitor(
            merchant_id=self.merchant_id, visitor_id=self.visitor_id
        )
        if conversation is None:
            try:
                visitor = selectors.visitor_get(
                    merchant_id=self.merchant_id, visitor_id=self.visitor_id
                )
            except KefuError:
                return None, None, None
            return visitor, None, None
        realtime.assignee_name(conversation)  # read here, not in the event loop
        # The conversation is the merchant's and the visitor's, so is the visitor it carries.
        return (
            conversation.visitor,
            conversation,
            selectors.message_history_after(
                merchant_id=self.merchant_id,
                conversation_id=conversation.pk,
                after_seq=last_seq,
                include_private=False,
            ),
        )

    # A visitor cannot tell a lost message from a private note (both leave a gap in the seqs it
    # sees), so the server keeps each visitor socket free of holes and in order
    # (FrameConsumer.in_order): the client's highest shown seq stays a safe `last_seq`.

    async def dispatch(self, message):
        await super().dispatch(message)
        if message["type"] == "message.created":
            # Another tab may have started the conversation (or a new one after a close):
            # follow it, or this tab's typing would be dropped or go to the old conversation.
            self.conversation_id = realtime.created_ref(message)[0]

    def presence_entries(self):
        if not self.registered:
            return [], []
        return presence.visitor_entries(self.merchant_id, self.visitor_id, self.channel_name), []

    async def disconnect(self, code):
        await super().disconnect(code)
        if not self.registered:
            return
        left = await presence.visitor_socket_down(
            self.merchant_id, self.visitor_id, self.channel_name
        )
        if left == 0 and self.ready:
            # Another tab may have moved to another page since this one loaded the visitor;
            # agents replace their copy with this frame, so send the stored row. A visitor
            # erased meanwhile has no row left to show as offline.
            try:
                visitor = await database_sync_to_async(selectors.visitor_get)(
                    merchant_id=self.merchant_id, visitor_id=self.visitor_id
                )
            except KefuError:
                visitor = None
            if visitor is not None:
                await self.publish(
                    realtime.agents_group(self.merchant_id),
                    protocol.VisitorUpdatedFrame(visitor=realtime.visitor_out(visitor, False)),
                )
            if self.conversation_id:
                await self.publish(
                    realtime.agents_group(self.merchant_id),
                    protocol.TypingOutFrame(
                        conversation_id=self.conversation_id,
                        sender_kind="visitor",
                        active=False,
                    ),
                )

    async def frame_message_send(self, frame: protocol.MessageSendFrame) -> None:
        if frame.private or frame.conversation_id is not None:
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "Visitors cannot set these fields.",
                {
                    k: "not allowed for visitors"
                    for k in ("private", "conversation_id")
                    if getattr(frame, k)
                },
                ref=frame.client_msg_id,
            )
        # Stored together with the other sockets' pending sends, one commit per batch
        # (conversations.batching); acknowledged only after that commit.
        message, created = await batching.writer().send(
            waiting=self.waiting(),
            merchant_id=self.merchant_id,
            visitor_id=self.visitor_id,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
            team_id=frame.team_id,
            attachment_id=frame.attachment_id,
        )
        self.conversation_id = message.conversation_id
        await self.send_ack(message, created, frame.client_msg_id)

    async def frame_conversation_read(self, frame: protocol.ConversationReadFrame) -> None:
        await database_sync_to_async(services.conversation_mark_read_by_visitor)(
            merchant_id=self.merchant_id,
            visitor_id=self.visitor_id,
            conversation_id=frame.conversation_id,
            seq=frame.seq,
        )

    async def frame_typing(self, frame: protocol.TypingFrame) -> None:
        if frame.conversation_id is not None:
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "The frame is not valid.",
                {"conversation_id": "not allowed for visitors"},
            )
        if self.conversation_id is None:
            return  # nothing to type into yet; the first message starts the conversation
        # `text` is optional (a widget need not share its draft): only an empty draft means
        # "stopped"; a frame without text is plain typing, not a stop.
        active = frame.active and (frame.text is None or bool(frame.text.strip()))
        await self.publish(
            realtime.agents_group(self.merchant_id),
            protocol.TypingOutFrame(
                conversation_id=self.conversation_id,
                sender_kind="visitor",
                active=active,
                text=frame.text,
            ),
        )

    async def frame_page_view(self, frame: protocol.PageViewFrame) -> None:
        await database_sync_to_async(services.visitor_page_view)(
            merchant_id=self.merchant_id,
            visitor_id=self.visitor_id,
            url=frame.url,
            title=frame.title,
        )

    async def frame_handover_request(self, frame: protocol.HandoverRequestFrame) -> None:
        # The answer is the bot's hand-over line and `conversation.state` (bot_active false),
        # published to all of this visitor's tabs. When a person already has the conversation
        # this socket alone gets the current state, so the widget stops saying "connecting".
        from .. import bot

        handed_over, conversation_id = await database_sync_to_async(bot.visitor_handover_request)(
            merchant_id=self.merchant_id,
            visitor_id=self.visitor_id,
        )
        if not handed_over:
            state = await database_sync_to_async(selectors.visitor_state)(
                merchant_id=self.merchant_id, conversation_id=conversation_id
            )
            if state is not None:
                await self.send_frame(protocol.VisitorConversationStateFrame(conversation=state))

    async def frame_conversation_rate(self, frame: protocol.ConversationRateFrame) -> None:
        # The answer is `conversation.state` (rated) to all of this visitor's tabs; a refusal is
        # an error frame and stores nothing.
        await database_sync_to_async(services.conversation_rate_current)(
            merchant_id=self.merchant_id,
            visitor_id=self.visitor_id,
            rating=frame.rating,
            comment=frame.comment,
        )
