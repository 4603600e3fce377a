"""An agent's workspace socket: the Django session, the merchant's agents group and the
agent's own group, presence, then one handler per client frame (docs/protocol.md)."""

from __future__ import annotations

import time

from channels.db import database_sync_to_async

from kefu.errors import KefuError
from merchants import services as merchant_services
from merchants.selectors import membership_get, membership_list_for_merchant, membership_names

from .. import presence, protocol, realtime, selectors, services
from ..protocol import ErrorCode, FrameError
from .base import FrameConsumer, heartbeat_interval

# How stale the socket's knowledge that its agent may still work here may get before a frame
# re-reads the membership (one indexed query at most this often). The access.revoked event
# closes the socket at once; this catches an event lost to a channel-layer outage.
ACCESS_RECHECK_SECONDS = 5.0


class AgentConsumer(FrameConsumer):
    """An agent's workspace, authenticated by the Django session; one socket per merchant."""

    role = "agent"
    access_checked = 0.0

    async def connect(self):
        self.setup()
        if await self.refused_for_rate():
            return
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
        self.access_checked = time.monotonic()
        await self.accept()
        await self.join(realtime.agents_group(self.merchant_id))
        await self.join(realtime.agent_group(self.merchant_id, user.pk))
        await presence.agent_socket_up(self.merchant_id, user.pk, self.channel_name)
        self.registered = True
        self.start_watchdog()
        agents = await self._agents()
        teams = await database_sync_to_async(selectors.teams_out)(merchant_id=self.merchant_id)
        labels = await database_sync_to_async(
            lambda: [
                realtime.label_out(x) for x in selectors.label_list(merchant_id=self.merchant_id)
            ]
        )()
        await self.send_frame(
            protocol.SessionReadyFrame(
                role="agent",
                merchant_id=self.merchant_id,
                user_id=user.pk,
                display_name=self.membership.display_name,
                agents=agents,
                teams=teams,
                labels=labels,
                heartbeat_seconds=heartbeat_interval(),
            )
        )
        await self.send_frame(
            await database_sync_to_async(selectors.queue_frame)(merchant_id=self.merchant_id)
        )
        await self.publish_presence()
        # This agent may just have become available: the service serves the queue.
        await database_sync_to_async(services.agent_connected)(
            merchant_id=self.merchant_id, away=self.membership.is_away
        )

    async def _agents(self) -> list[protocol.AgentOut]:
        memberships = await database_sync_to_async(
            lambda: list(membership_list_for_merchant(merchant_id=self.merchant_id))
        )()
        connected = await presence.agents_connected(
            self.merchant_id, [m.user_id for m in memberships]
        )
        return [
            protocol.AgentOut(
                user_id=m.user_id,
                name=m.display_name,
                status=presence.agent_status(connected=connected[m.user_id], away=m.is_away),
            )
            for m in memberships
        ]

    async def access_revoked(self, message) -> None:
        """realtime.ACCESS_REVOKED: the membership or the user was deactivated or removed."""
        await self.close(code=4403)

    async def handle_frame(self, frame: protocol.Frame) -> None:
        if not isinstance(frame, protocol.PingFrame) and not await self.still_allowed():
            await self.close(code=4403)
            return
        await super().handle_frame(frame)

    async def still_allowed(self) -> bool:
        """Whether the agent may still work for this merchant, re-read from the database at
        most every ACCESS_RECHECK_SECONDS (a frame in between trusts the last answer)."""
        now = time.monotonic()
        if now - self.access_checked < ACCESS_RECHECK_SECONDS:
            return True
        fresh = await database_sync_to_async(membership_get)(
            merchant_id=self.merchant_id, user=self.scope["user"]
        )
        if fresh is None:
            return False
        self.access_checked = now
        return True

    async def publish_presence(self) -> None:
        user_id = self.membership.user_id
        connected = (await presence.agents_connected(self.merchant_id, [user_id]))[user_id]
        frame = protocol.PresenceChangedFrame(
            agent=protocol.AgentOut(
                user_id=user_id,
                name=self.membership.display_name,
                status=presence.agent_status(connected=connected, away=self.membership.is_away),
            )
        )
        # Unlike other ephemeral events this one also reaches the agent's own socket, so every
        # tab (this one included) shows the same status.
        await realtime.apublish(realtime.agents_group(self.merchant_id), frame)
        # The merchant's visitors see "online / away / offline" in their widget's status line.
        availability = await database_sync_to_async(selectors.visitor_availability_for)(
            merchant_id=self.merchant_id
        )
        await realtime.apublish(
            realtime.visitors_group(self.merchant_id),
            protocol.AvailabilityChangedFrame(availability=availability),
        )

    def presence_entries(self):
        if not self.registered:
            return [], []
        return presence.agent_entries(
            self.merchant_id, self.membership.user_id, self.channel_name, self.viewing
        )

    async def disconnect(self, code):
        await super().disconnect(code)
        if not self.registered:
            return
        await presence.agent_socket_down(
            self.merchant_id, self.membership.user_id, self.channel_name
        )
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
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "The frame is not valid.",
                {"conversation_id": "required for agents"},
            )
        if not await self.check_conversations([conversation_id]):
            raise KefuError(ErrorCode.NOT_FOUND, "Conversation not found.")
        return conversation_id

    async def frame_message_send(self, frame: protocol.MessageSendFrame) -> None:
        if frame.conversation_id is None:
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "The frame is not valid.",
                {"conversation_id": "required for agents"},
                ref=frame.client_msg_id,
            )
        message, created = await database_sync_to_async(services.message_send_by_agent)(
            merchant_id=self.merchant_id,
            conversation_id=frame.conversation_id,
            sender=self.sender,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
            private=frame.private,
            attachment_id=frame.attachment_id,
        )
        await self.send_ack(message, created, frame.client_msg_id)

    async def frame_conversation_read(self, frame: protocol.ConversationReadFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_mark_read_by_agent)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            seq=frame.seq,
            user_id=self.membership.user_id,
        )

    async def frame_resume(self, frame: protocol.ResumeFrame) -> None:
        mine = await self.check_conversations(list(frame.conversations))
        for conversation_id, last_seq in sorted(frame.conversations.items()):
            if conversation_id in mine:
                sent = await self.replay(conversation_id, last_seq, include_private=True)
                self.sent_seq[conversation_id] = max(self.sent_seq.get(conversation_id, 0), sent)
        await self.send_frame(protocol.ResumeDoneFrame())

    async def frame_typing(self, frame: protocol.TypingFrame) -> None:
        if frame.text is not None:
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "The frame is not valid.",
                {"text": "agents send `active` only"},
            )
        conversation_id = await self.require_conversation(frame.conversation_id)
        visitor_id = await database_sync_to_async(self._visitor_of)(conversation_id)
        user_id = self.membership.user_id
        await self.publish(
            realtime.visitor_group(visitor_id),
            protocol.TypingOutFrame(
                conversation_id=conversation_id,
                sender_kind="agent",
                active=frame.active,
            ),
        )
        await self.publish(
            realtime.agents_group(self.merchant_id),
            protocol.TypingOutFrame(
                conversation_id=conversation_id,
                sender_kind="agent",
                user_id=user_id,
                name=self.membership.display_name,
                active=frame.active,
            ),
        )
        await presence.viewer_set(
            self.merchant_id, conversation_id, user_id, self.channel_name, typing=frame.active
        )
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
            merchant_id=self.merchant_id,
            user_id=self.membership.user_id,
            away=frame.status == "away",
        )
        # Back from away, the service has served the queue after its commit (capacity_freed).
        await self.publish_presence()

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
        names = await database_sync_to_async(membership_names)(
            merchant_id=self.merchant_id, user_ids=[v.user_id for v in viewers]
        )
        frame = protocol.ViewersChangedFrame(
            conversation_id=conversation_id,
            viewers=[
                protocol.ViewerOut(
                    user_id=v.user_id, name=names.get(v.user_id, ""), typing=v.typing
                )
                for v in viewers
            ],
        )
        await realtime.apublish(realtime.agents_group(self.merchant_id), frame)

    # --- Routing actions: the services check roles and races and raise KefuError ------------

    async def frame_conversation_claim(self, frame: protocol.ConversationClaimFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_claim)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            user_id=self.membership.user_id,
        )

    async def frame_conversation_transfer(self, frame: protocol.ConversationTransferFrame) -> None:
        if (frame.to_user_id is None) == (frame.to_team_id is None):
            raise FrameError(
                ErrorCode.INVALID_FRAME,
                "The frame is not valid.",
                {"to_user_id": "give to_user_id or to_team_id, not both"},
            )
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_transfer)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            actor_user_id=self.membership.user_id,
            to_user_id=frame.to_user_id,
            to_team_id=frame.to_team_id,
            note=frame.note,
        )

    async def frame_conversation_status(self, frame: protocol.ConversationStatusFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_set_status)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            actor_user_id=self.membership.user_id,
            status=frame.status,
        )

    # --- Inbox triage: snooze and priority (services.inbox) -------------------------------------

    async def frame_conversation_snooze(self, frame: protocol.ConversationSnoozeFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_snooze)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            actor_user_id=self.membership.user_id,
            until=frame.until,
        )

    async def frame_conversation_unsnooze(self, frame: protocol.ConversationUnsnoozeFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_unsnooze)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            actor_user_id=self.membership.user_id,
        )

    async def frame_conversation_priority(self, frame: protocol.ConversationPriorityFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_set_priority)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            actor_user_id=self.membership.user_id,
            priority=frame.priority,
        )

    # --- Visitors now (proactive chat) and the supervisor screen (docs/desk.md) ---------------

    async def frame_visitors_live(self, frame: protocol.VisitorsLiveFrame) -> None:
        # The merchant's own presence set, then its own rows: another merchant's visitor ids
        # are simply not online here.
        online = await presence.visitors_live(self.merchant_id)
        asked = set(frame.visitor_ids) if frame.visitor_ids is not None else None
        if asked is not None:
            online &= asked
        rows = await database_sync_to_async(selectors.visitors_live_rows)(
            merchant_id=self.merchant_id, visitor_ids=online
        )
        gone = sorted(asked - {r.id for r in rows}) if asked is not None else []
        await self.send_frame(
            protocol.VisitorsLiveOutFrame(visitors=rows, gone=gone, partial=asked is not None)
        )

    async def frame_visitor_invite(self, frame: protocol.VisitorInviteFrame) -> None:
        message, created = await database_sync_to_async(services.visitor_invite)(
            merchant_id=self.merchant_id,
            visitor_id=frame.visitor_id,
            user_id=self.membership.user_id,
            client_msg_id=frame.client_msg_id,
            body=frame.body,
        )
        await self.send_ack(message, created, frame.client_msg_id)

    async def require_manager(self) -> None:
        # Re-read: a role changed since the socket connected counts at once.
        fresh = await database_sync_to_async(membership_get)(
            merchant_id=self.merchant_id, user=self.scope["user"]
        )
        if fresh is None or not fresh.is_manager:
            raise KefuError(ErrorCode.FORBIDDEN, "Only owners and admins can supervise.")

    async def frame_supervisor_snapshot(self, frame: protocol.SupervisorSnapshotFrame) -> None:
        await self.require_manager()
        user_ids = await database_sync_to_async(
            lambda: list(
                membership_list_for_merchant(merchant_id=self.merchant_id).values_list(
                    "user_id", flat=True
                )
            )
        )()
        connected = await presence.agents_connected(self.merchant_id, user_ids)
        await self.send_frame(
            await database_sync_to_async(selectors.supervisor_snapshot)(
                merchant_id=self.merchant_id, connected=connected
            )
        )

    async def frame_conversation_join(self, frame: protocol.ConversationJoinFrame) -> None:
        conversation_id = await self.require_conversation(frame.conversation_id)
        await database_sync_to_async(services.conversation_join)(
            merchant_id=self.merchant_id,
            conversation_id=conversation_id,
            actor_user_id=self.membership.user_id,
            reason=frame.reason,
        )
