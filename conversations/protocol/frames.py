"""Every frame of the two sockets: the client frames each role may send, the server frames,
and which of those are group events (EVENT_FRAMES)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .codes import MAX_INT, PROTOCOL_VERSION
from .shapes import (
    AgentLoadOut,
    AgentOut,
    AvailabilityOut,
    ConversationOut,
    LabelOut,
    LiveVisitorOut,
    MessageOut,
    QueueEntryOut,
    RoutingEventOut,
    TeamOut,
    ViewerOut,
    VisitorConversationOut,
    VisitorOut,
)

ClientMsgId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- Client -> server -----------------------------------------------------------------------


class AuthFrame(Frame):
    """Visitor only, first frame: the token from the widget bootstrap. `last_seq` is the highest
    `seq` the client already shows for its conversation; the server replays what is newer."""

    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=1000)
    last_seq: int = Field(default=0, ge=0, le=MAX_INT)


class PingFrame(Frame):
    """Keep-alive; answered with `pong`."""

    type: Literal["ping"]


class MessageSendFrame(Frame):
    """Send a message. Visitors omit `conversation_id` (their current conversation is used, or a
    new one starts); agents must give it. `private` (agents only) makes an internal note that
    never reaches the visitor. A repeated `client_msg_id` returns the original message."""

    type: Literal["message.send"]
    client_msg_id: ClientMsgId
    body: str
    conversation_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    private: bool = False
    # Visitors: the team chosen before the chat (pre-chat choice or the embed's data-team),
    # used when this message starts a conversation.
    team_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    # An upload of this sender (POST .../attachments first): the message carries it and `body`
    # is an optional caption.
    attachment_id: int | None = Field(default=None, ge=1, le=MAX_INT)


class ConversationReadFrame(Frame):
    """Mark messages up to `seq` as read. Visitors omit `conversation_id`."""

    type: Literal["conversation.read"]
    conversation_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    seq: int = Field(ge=0, le=MAX_INT)


class ResumeFrame(Frame):
    """Agents: after (re)connecting, the highest `seq` the client shows per open conversation
    (keys are conversation ids). The server answers with `history` frames holding every later
    message, private notes included, then `resume.done`."""

    type: Literal["resume"]
    conversations: dict[
        Annotated[int, Field(ge=1, le=MAX_INT)], Annotated[int, Field(ge=0, le=MAX_INT)]
    ] = Field(max_length=200)


class TypingFrame(Frame):
    """Typing state. Visitors may send their draft `text` (shown live to agents, never stored;
    empty text means they stopped); agents send `active` and `conversation_id` (the visitor sees
    "agent is typing" without text)."""

    type: Literal["typing"]
    conversation_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    active: bool = True
    text: str | None = Field(default=None, max_length=1000)


class PageViewFrame(Frame):
    """Visitors: the page they are on now (sent on load and on in-page navigation)."""

    type: Literal["page.view"]
    url: str = Field(max_length=2000)
    title: str = Field(default="", max_length=500)


class PresenceSetFrame(Frame):
    """Agents: the manual switch between available ("online") and "away"."""

    type: Literal["presence.set"]
    status: Literal["online", "away"]


class HandoverRequestFrame(Frame):
    """Visitors: the "talk to a human" button. The bot steps aside and the conversation is
    routed to an agent (or queued)."""

    type: Literal["handover.request"]


class ConversationRateFrame(Frame):
    """Visitors: rate their resolved conversation, 1-5 (a three-step scale sends 5, 3 or 1),
    with an optional comment. Once per resolution: rating again gets `already_rated`; a
    conversation reopened and resolved again can be rated again (the newest rating counts).
    The answer is `conversation.state` with `rated` true, to all the visitor's tabs."""

    type: Literal["conversation.rate"]
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=1000)


class ConversationClaimFrame(Frame):
    """Agents: take a queued or unassigned conversation. Two agents claiming at once: one wins,
    the other gets `already_assigned`."""

    type: Literal["conversation.claim"]
    conversation_id: int = Field(ge=1, le=MAX_INT)


class ConversationTransferFrame(Frame):
    """Agents: hand a conversation to another agent (`to_user_id`) or to a team's routing
    (`to_team_id`), with an optional note stored as a private note. Owners and admins may
    transfer any conversation (reassign); agents only their own."""

    type: Literal["conversation.transfer"]
    conversation_id: int = Field(ge=1, le=MAX_INT)
    to_user_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    to_team_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    note: str = Field(default="", max_length=1000)


class ConversationStatusFrame(Frame):
    """Agents: resolve or reopen a conversation. Resolving frees the agent's capacity and
    drains the queue."""

    type: Literal["conversation.status"]
    conversation_id: int = Field(ge=1, le=MAX_INT)
    status: Literal["open", "resolved"]


class ConversationSnoozeFrame(Frame):
    """Agents: snooze an open conversation until `until` (a future time with its offset), or
    with `until` null until the visitor writes again. Any agent of the merchant may; everyone
    gets `conversation.updated`."""

    type: Literal["conversation.snooze"]
    conversation_id: int = Field(ge=1, le=MAX_INT)
    until: AwareDatetime | None = None


class ConversationUnsnoozeFrame(Frame):
    """Agents: wake a snoozed conversation now."""

    type: Literal["conversation.unsnooze"]
    conversation_id: int = Field(ge=1, le=MAX_INT)


class ConversationPriorityFrame(Frame):
    """Agents: set a conversation's priority: 0 normal, 10 high (also what a strongly negative
    visitor message sets), 20 urgent. A queued conversation moves in the queue."""

    type: Literal["conversation.priority"]
    conversation_id: int = Field(ge=1, le=MAX_INT)
    priority: Literal[0, 10, 20]


class ConversationViewFrame(Frame):
    """Agents: the conversation this socket has open (null when none), for the collision view."""

    type: Literal["conversation.view"]
    conversation_id: int | None = Field(default=None, ge=1, le=MAX_INT)


class VisitorsLiveFrame(Frame):
    """Agents: who is on the merchant's site now. Answered with `visitors.live`. With
    `visitor_ids`, only those visitors (the workspace refreshes a row after `visitor.updated`)."""

    type: Literal["visitors.live"]
    visitor_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] | None = Field(
        default=None, max_length=200
    )


class VisitorInviteFrame(Frame):
    """Agents: invite a visitor on the site to chat (proactive chat). The message goes into
    their open or pending conversation, or starts one assigned to this agent, through the
    normal ordered path: answered with `message.ack` (a repeated `client_msg_id` returns the
    original); the visitor's widget opens with it. Refused with `visitor_blocked` for a blocked
    visitor, `already_assigned` when another agent has their conversation."""

    type: Literal["visitor.invite"]
    visitor_id: int = Field(ge=1, le=MAX_INT)
    client_msg_id: ClientMsgId
    body: str


class SupervisorSnapshotFrame(Frame):
    """Owners and admins: each agent's status and load and the live conversations, answered
    with `supervisor.snapshot`; agents get `forbidden`."""

    type: Literal["supervisor.snapshot"]


class ConversationJoinFrame(Frame):
    """Owners and admins: take over a live conversation (it is assigned to them), with a
    reason recorded in the routing timeline (`routing.event`, rule `supervisor_join`). To
    whisper, send `message.send` with `private` true: only agents see it."""

    type: Literal["conversation.join"]
    conversation_id: int = Field(ge=1, le=MAX_INT)
    reason: str = Field(min_length=1, max_length=200)


VISITOR_CLIENT_FRAMES = (
    AuthFrame,
    PingFrame,
    MessageSendFrame,
    ConversationReadFrame,
    TypingFrame,
    PageViewFrame,
    HandoverRequestFrame,
    ConversationRateFrame,
)
AGENT_CLIENT_FRAMES = (
    PingFrame,
    MessageSendFrame,
    ConversationReadFrame,
    ResumeFrame,
    TypingFrame,
    PresenceSetFrame,
    ConversationViewFrame,
    ConversationClaimFrame,
    ConversationTransferFrame,
    ConversationStatusFrame,
    ConversationSnoozeFrame,
    ConversationUnsnoozeFrame,
    ConversationPriorityFrame,
    VisitorsLiveFrame,
    VisitorInviteFrame,
    SupervisorSnapshotFrame,
    ConversationJoinFrame,
)

# --- Server -> client -----------------------------------------------------------------------


class SessionReadyFrame(Frame):
    """Sent once the socket is authenticated (visitor: after `auth`; agent: on connect)."""

    type: Literal["session.ready"] = "session.ready"
    protocol: int = PROTOCOL_VERSION
    role: Literal["visitor", "agent"]
    merchant_id: int
    visitor_id: int | None = None
    user_id: int | None = None
    display_name: str = ""
    conversation: VisitorConversationOut | None = None
    agents: list[AgentOut] = Field(default_factory=list)
    # Agents: the merchant's active teams (for transfers and filters).
    teams: list[TeamOut] = Field(default_factory=list)
    # Agents: the merchant's labels (later changes: `labels.changed`).
    labels: list[LabelOut] = Field(default_factory=list)
    # Visitors: the merchant's availability now (later changes: `availability.changed`).
    availability: AvailabilityOut | None = None
    heartbeat_seconds: int = 25


class HistoryFrame(Frame):
    """Messages newer than the client's `last_seq`, oldest first, in pages of up to 200;
    `has_more` says another page follows."""

    type: Literal["history"] = "history"
    conversation_id: int
    messages: list[MessageOut]
    has_more: bool = False


class MessageAckFrame(Frame):
    """Answer to `message.send`: the stored message's id and seq. `duplicate` is true when the
    `client_msg_id` had been stored before and the original is returned."""

    type: Literal["message.ack"] = "message.ack"
    client_msg_id: str
    message: MessageOut
    duplicate: bool = False


class MessageCreatedFrame(Frame):
    """A message was stored (sent after the transaction committed). Clients drop a `seq` they
    already show, so a message that is both acknowledged and broadcast is shown once."""

    type: Literal["message.created"] = "message.created"
    message: MessageOut


class ConversationUpdatedFrame(Frame):
    """Agents only: a conversation's inbox row changed (new message, status, unread count)."""

    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: ConversationOut


class ResumeDoneFrame(Frame):
    """Agents: every `history` frame asked for by `resume` has been sent."""

    type: Literal["resume.done"] = "resume.done"


class TypingOutFrame(Frame):
    """Someone is typing in a conversation. Agents get the visitor's draft `text`; visitors
    get agents' typing without names or text."""

    type: Literal["typing"] = "typing"
    conversation_id: int
    sender_kind: Literal["visitor", "agent"]
    user_id: int | None = None
    name: str = ""
    active: bool
    text: str | None = None


class ConversationReadOutFrame(Frame):
    """Read state moved: `reader` has read everything up to `seq`. Visitors get agents' reads
    (read ticks on their messages) without user ids; agents get the visitor's and each other's."""

    type: Literal["conversation.read"] = "conversation.read"
    conversation_id: int
    reader: Literal["visitor", "agent"]
    user_id: int | None = None
    seq: int


class PresenceChangedFrame(Frame):
    """Agents only: an agent's presence changed."""

    type: Literal["presence.changed"] = "presence.changed"
    agent: AgentOut


class AvailabilityChangedFrame(Frame):
    """Visitors only: an agent of the merchant connected, disconnected or switched "away", so
    the merchant's availability may have changed (the widget's status line follows it)."""

    type: Literal["availability.changed"] = "availability.changed"
    availability: AvailabilityOut


class VisitorUpdatedFrame(Frame):
    """Agents only: a visitor came online, went offline or moved to another page."""

    type: Literal["visitor.updated"] = "visitor.updated"
    visitor: VisitorOut


class ViewersChangedFrame(Frame):
    """Agents only: who has this conversation open and who is typing in it (collision view)."""

    type: Literal["viewers.changed"] = "viewers.changed"
    conversation_id: int
    viewers: list[ViewerOut]


class VisitorConversationStateFrame(Frame):
    """Visitors: their conversation changed state (queue position and estimated wait, bot
    handed over, resolved)."""

    type: Literal["conversation.state"] = "conversation.state"
    conversation: VisitorConversationOut


class QueueChangedFrame(Frame):
    """Agents only: the merchant's queue after a change (first 100 entries; `total` counts
    all)."""

    type: Literal["queue.changed"] = "queue.changed"
    queue: list[QueueEntryOut]
    total: int


class RoutingEventFrame(Frame):
    """Agents only: a routing decision was made for a conversation."""

    type: Literal["routing.event"] = "routing.event"
    event: RoutingEventOut


class NotificationFrame(Frame):
    """One agent only: something needs their attention (new conversation, queued visitor,
    unanswered message, conversation returned to the queue). The workspace plays a sound and
    shows a browser notification. `title` (and `body` when it is not the visitor's words) is
    in the language this socket's agent chose (kefu/localized.py)."""

    type: Literal["notification"] = "notification"
    reason: Literal["new", "queued", "unanswered", "returned", "offline"]
    conversation_id: int
    title: str
    body: str


class ConversationLabelsFrame(Frame):
    """Agents only: a conversation's labels changed (`label_ids` is the whole new set);
    `actor_id` is the agent who changed them, null for an API token."""

    type: Literal["conversation.labels"] = "conversation.labels"
    conversation_id: int
    label_ids: list[int]
    actor_id: int | None = None


class LabelsChangedFrame(Frame):
    """Agents only: the merchant's labels were added, renamed, recoloured or deleted; `labels`
    is the whole new list."""

    type: Literal["labels.changed"] = "labels.changed"
    labels: list[LabelOut]


class VisitorProfileChangedFrame(Frame):
    """Agents only: something in a visitor's customer profile changed (a note, a custom
    attribute, blocked or unblocked, identified and merged); re-read it with
    `GET /api/v1/visitors/<id>/profile/` if it is shown. `merged_into` is set when this visitor
    became part of another one (signed identity): show that one instead."""

    type: Literal["visitor.profile_changed"] = "visitor.profile_changed"
    visitor_id: int
    what: Literal["notes", "attributes", "blocked", "identified"]
    merged_into: int | None = None


class VisitorsLiveOutFrame(Frame):
    """Answer to `visitors.live`: the visitors on the site now (most recently active first, at
    most 200; with `visitor_ids`, those of them still online). `gone`: asked-for ids that are
    no longer online (drop their rows). `partial`: the answer to a request with `visitor_ids`
    (merge it); otherwise it is the whole list (replace)."""

    type: Literal["visitors.live"] = "visitors.live"
    visitors: list[LiveVisitorOut]
    gone: list[int] = Field(default_factory=list)
    partial: bool = False


class SupervisorSnapshotOutFrame(Frame):
    """Answer to `supervisor.snapshot`: every active agent's status and load, and the open and
    pending conversations (newest activity first, at most 200)."""

    type: Literal["supervisor.snapshot"] = "supervisor.snapshot"
    agents: list[AgentLoadOut]
    conversations: list[ConversationOut]


class PongFrame(Frame):
    """Answer to `ping`."""

    type: Literal["pong"] = "pong"


class ErrorFrame(Frame):
    """Something the client sent was refused. The socket stays open unless the code says it
    closes. `ref` echoes the `client_msg_id` of the refused `message.send`, if any."""

    type: Literal["error"] = "error"
    code: str
    message: str
    ref: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    retry_after: float | None = None


SERVER_FRAMES = (
    SessionReadyFrame,
    HistoryFrame,
    MessageAckFrame,
    MessageCreatedFrame,
    ConversationUpdatedFrame,
    ResumeDoneFrame,
    TypingOutFrame,
    ConversationReadOutFrame,
    PresenceChangedFrame,
    AvailabilityChangedFrame,
    VisitorUpdatedFrame,
    ViewersChangedFrame,
    VisitorConversationStateFrame,
    QueueChangedFrame,
    RoutingEventFrame,
    NotificationFrame,
    ConversationLabelsFrame,
    LabelsChangedFrame,
    VisitorProfileChangedFrame,
    VisitorsLiveOutFrame,
    SupervisorSnapshotOutFrame,
    PongFrame,
    ErrorFrame,
)

# The server frames published to a group (by realtime.py after a commit, or by a consumer for
# ephemeral state) and forwarded to each socket of the group as they are. The others
# (session.ready, history, message.ack, resume.done, pong, error, visitors.live,
# supervisor.snapshot) answer one socket only.
EVENT_FRAMES = (
    MessageCreatedFrame,
    ConversationUpdatedFrame,
    TypingOutFrame,
    ConversationReadOutFrame,
    PresenceChangedFrame,
    AvailabilityChangedFrame,
    VisitorUpdatedFrame,
    ViewersChangedFrame,
    VisitorConversationStateFrame,
    QueueChangedFrame,
    RoutingEventFrame,
    NotificationFrame,
    ConversationLabelsFrame,
    LabelsChangedFrame,
    VisitorProfileChangedFrame,
)


def frame_type(frame: type[Frame]) -> str:
    """The `type` a frame class carries on the wire."""
    return frame.model_fields["type"].annotation.__args__[0]
