"""The WebSocket protocol: every frame and every error code, and nothing else.

Each frame is one pydantic class whose `type` field is its name on the wire. Client frames
forbid unknown fields, so a typo is an `invalid_frame` error instead of being silently ignored.
docs/protocol.md is generated from this module (`python manage.py protocol_doc`) and a test fails
when the two differ.

Frames are JSON text; one frame per WebSocket message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from kefu.text import SURROGATE_MESSAGE, surrogate_in

PROTOCOL_VERSION = 1
# Largest text frame a client may send, in bytes (UTF-8). Larger frames get `frame_too_large`.
MAX_FRAME_BYTES = 64 * 1024

# Every integer a client sends (ids, seqs) is at most a signed 64-bit integer, the widest
# column: a larger one reached the database driver and failed there (OverflowError, so
# `internal_error`; found by the WebSocket fuzz). Over it is `invalid_frame`.
MAX_INT = 2**63 - 1

ClientMsgId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ErrorCode:
    """Every `code` an `error` frame can carry, with what it means."""

    INVALID_JSON = "invalid_json"
    FRAME_TOO_LARGE = "frame_too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FRAME = "invalid_frame"
    AUTH_REQUIRED = "auth_required"
    ALREADY_AUTHENTICATED = "already_authenticated"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    MERCHANT_MISMATCH = "merchant_mismatch"
    NOT_FOUND = "not_found"
    MESSAGE_EMPTY = "message_empty"
    MESSAGE_TOO_LONG = "message_too_long"
    CLIENT_MSG_ID_CONFLICT = "client_msg_id_conflict"
    CONVERSATION_CLOSED = "conversation_closed"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_SOCKETS = "too_many_sockets"
    FORBIDDEN = "forbidden"
    ALREADY_ASSIGNED = "already_assigned"
    AGENT_UNAVAILABLE = "agent_unavailable"
    VISITOR_BLOCKED = "visitor_blocked"
    NOT_RESOLVED = "not_resolved"
    ALREADY_RATED = "already_rated"
    RATING_OFF = "rating_off"
    INTERNAL_ERROR = "internal_error"
    # Attachments (HTTP upload, then `message.send` with `attachment_id`).
    FILE_EMPTY = "file_empty"
    FILE_TOO_LARGE = "file_too_large"
    FILE_TYPE = "file_type"
    FILE_DAMAGED = "file_damaged"
    UPLOAD_ID_CONFLICT = "upload_id_conflict"
    ATTACHMENT_INVALID = "attachment_invalid"

    DESCRIPTIONS = {
        INVALID_JSON: "The frame is not a JSON object.",
        FRAME_TOO_LARGE: f"The frame is larger than {MAX_FRAME_BYTES} bytes.",
        UNKNOWN_TYPE: "The frame's `type` is not one this socket accepts.",
        INVALID_FRAME: "A field is missing, has the wrong type, or is not allowed; "
        "`fields` names them.",
        AUTH_REQUIRED: "A visitor socket must send `auth` before anything else.",
        ALREADY_AUTHENTICATED: "`auth` was sent twice on one socket.",
        TOKEN_INVALID: "The visitor token is not one this server signed. The socket closes (4401).",
        TOKEN_EXPIRED: "The visitor token is too old: bootstrap again. The socket closes (4401).",
        MERCHANT_MISMATCH: "The token belongs to another merchant than the socket's widget key. "
        "The socket closes (4403).",
        NOT_FOUND: "The conversation does not exist for this merchant (or this visitor).",
        MESSAGE_EMPTY: "The message body is empty after trimming white space.",
        MESSAGE_TOO_LONG: "The message body is longer than the limit (5,000 characters by default).",
        CLIENT_MSG_ID_CONFLICT: "The `client_msg_id` was already used by this sender in this "
        "conversation for a different body. Nothing is stored; the original stays as it was.",
        CONVERSATION_CLOSED: "Agents cannot write to a closed conversation.",
        RATE_LIMITED: "Too many frames too fast on this socket (pings count too). Nothing was "
        "done; `retry_after` says how many seconds to wait. The socket stays open. Sent before "
        "close 4429 when this address opened too many sockets lately or failed to authenticate "
        "too often.",
        TOO_MANY_SOCKETS: "This visitor already has the maximum number of open sockets (tabs). "
        "The socket closes (4429).",
        FORBIDDEN: "This agent's role does not allow the action (e.g. reassigning someone "
        "else's conversation needs an owner or admin).",
        ALREADY_ASSIGNED: "Someone else claimed or was given the conversation first; nothing was "
        "changed. `conversation.updated` carries the current assignee.",
        AGENT_UNAVAILABLE: "The target agent or team cannot take the conversation (inactive, not "
        "in this merchant, or no such team).",
        VISITOR_BLOCKED: "Visitors: the merchant has blocked this visitor; nothing was stored. "
        "The widget shows that the chat is closed.",
        NOT_RESOLVED: "Only a resolved conversation can be rated.",
        ALREADY_RATED: "The visitor already rated this conversation since it was last resolved "
        "(a reopened and resolved again conversation can be rated again).",
        RATING_OFF: "The merchant does not ask for ratings.",
        INTERNAL_ERROR: "The server failed; nothing was stored. Retry with the same `client_msg_id`.",
        FILE_EMPTY: "Upload: the file has no bytes.",
        FILE_TOO_LARGE: "Upload: the file is larger than the merchant's limit, or the image has "
        "more pixels than the server decodes.",
        FILE_TYPE: "Upload: what the file contains (read from its bytes, not its name) is not a "
        "type this merchant accepts; HTML, SVG and other markup never are.",
        FILE_DAMAGED: "Upload: the file starts like an image but does not decode (truncated or "
        "not an image).",
        UPLOAD_ID_CONFLICT: "Upload: the `upload_id` was already used by this uploader for a "
        "different file. Nothing is stored.",
        ATTACHMENT_INVALID: "`attachment_id` is not an upload of this sender in this merchant, "
        "or it was already sent in another message. Nothing is stored.",
    }


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- Shapes carried inside server frames ----------------------------------------------------


class AttachmentOut(BaseModel):
    """The image or file a message carries. `url` and `thumbnail_url` are signed links that
    expire (ATTACHMENT_URL_MAX_AGE); every history read and event carries fresh ones. Only images
    are shown inline; every other file downloads."""

    id: int
    kind: Literal["image", "file"]
    name: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    url: str
    thumbnail_url: str | None = None


class MessageOut(BaseModel):
    """A stored message as clients see it."""

    id: int
    conversation_id: int
    seq: int
    sender_kind: Literal["visitor", "agent", "bot", "system"]
    sender_name: str
    body: str
    kind: Literal["text", "image", "file", "event"]
    client_msg_id: str | None
    private: bool
    created_at: datetime
    # Bot answers: {"confidence": 0.83, "intent": "...", "choices": [{"label": "..."}], ...}.
    # System lines (kind "event", sender "system"): {"system": "handover" | "joined" |
    # "transferred" | "ended", "agent": "name"}; `body` is the line in the visitor's language.
    meta: dict = Field(default_factory=dict)
    # Agents only (null for visitors): sentiment of a visitor message, score in [-1, 1].
    sentiment_score: float | None = None
    sentiment_label: Literal["positive", "neutral", "negative", ""] = ""
    # Messages of kind image or file: what they carry (`body` is then an optional caption).
    attachment: AttachmentOut | None = None


class VisitorOut(BaseModel):
    """A visitor as agents see it. `online` is true while one of its sockets is live; null when
    the sender of the frame does not know (keep what you had)."""

    id: int
    name: str
    email: str
    page_url: str
    page_title: str
    last_seen_at: datetime
    online: bool | None = None


class AgentOut(BaseModel):
    """An agent of the merchant and their presence, derived from live sockets across tabs and
    server processes plus the manual "away" switch."""

    user_id: int
    name: str
    status: Literal["online", "away", "offline"]


class AvailabilityOut(BaseModel):
    """What a visitor is told about the merchant before and while they chat: within business
    hours, whether agents are online, away (connected, all on "away") or offline (none
    connected), whether the leave-a-message form is offered, and when the merchant opens next."""

    open: bool
    agents: Literal["online", "away", "offline"]
    offline_form: bool
    next_opening: datetime | None = None


class TeamOut(BaseModel):
    """A team (skill group) of the merchant, for transfers and the queue filter."""

    id: int
    name: str
    member_ids: list[int]


class ViewerOut(BaseModel):
    """An agent who has a conversation open, and whether they are typing in it."""

    user_id: int
    name: str
    typing: bool = False


class LabelOut(BaseModel):
    """A merchant-defined label (name and colour, `#rrggbb`)."""

    id: int
    name: str
    colour: str


class ConversationOut(BaseModel):
    """A conversation as agents see it in the inbox."""

    id: int
    status: Literal["open", "pending", "resolved", "closed"]
    visitor: VisitorOut
    assignee_id: int | None
    last_seq: int
    last_message_at: datetime | None
    last_message_preview: str
    last_message_sender_kind: str
    unread_count: int
    created_at: datetime
    agent_last_read_seq: int = 0
    visitor_last_read_seq: int = 0
    source: Literal["chat", "offline_form", "api"] = "chat"
    team_id: int | None = None
    priority: int = 0
    # Position in the merchant's queue (1 = next), null when not queued.
    queued_at: datetime | None = None
    queue_position: int | None = None
    bot_active: bool = False
    intent: str = ""
    # Since when the visitor waits for an agent's answer (null: answered); the inbox colours it.
    awaiting_reply_since: datetime | None = None
    # Snoozed (set while it is; docs/desk.md): until `snoozed_until`, or with null until the
    # visitor writes again.
    snoozed_at: datetime | None = None
    snoozed_until: datetime | None = None
    # Ids of its labels; null when the sender of the frame did not load them (keep what you
    # had: `conversation.labels` announces every change).
    label_ids: list[int] | None = None
    # The visitor's satisfaction rating (1-5; satisfied / neutral / dissatisfied are 5 / 3 / 1)
    # and their comment (untrusted text), null / "" until rated.
    rating: int | None = None
    rating_comment: str = ""


class LiveVisitorOut(BaseModel):
    """A visitor on the merchant's site now (the desk's "Visitors now" list). The visit is the
    run of page views without a gap of 30 minutes or more: `visit_started_at` its first one,
    `pages_seen` how many. `returning`: they were on the site before this visit.
    `conversation_id`: their open or pending conversation (they already chat), with its
    `assignee_id`. `page_url` and `page_title` come from the visitor's browser (untrusted)."""

    id: int
    name: str
    page_url: str
    page_title: str
    pages_seen: int
    visit_started_at: datetime
    returning: bool
    blocked: bool = False
    conversation_id: int | None = None
    assignee_id: int | None = None


class AgentLoadOut(BaseModel):
    """An agent's status and load for the supervisor screen: open and pending conversations
    assigned to them against their capacity (`max_concurrent`)."""

    user_id: int
    name: str
    role: Literal["owner", "admin", "agent"]
    status: Literal["online", "away", "offline"]
    open_count: int
    capacity: int


class VisitorConversationOut(BaseModel):
    """A conversation as its visitor sees it."""

    id: int
    status: Literal["open", "pending", "resolved", "closed"]
    last_seq: int
    unread_count: int
    agent_last_read_seq: int = 0
    # How far the visitor has read (any tab): an invitation above it is unread (the widget
    # opens for a fresh unread one replayed on the visitor's return, docs/desk.md).
    visitor_last_read_seq: int = 0
    bot_active: bool = False
    # An agent has taken the conversation (the widget stops showing availability and queue).
    assigned: bool = False
    # While waiting for an agent: place in the queue (1 = next) and the estimated wait.
    queue_position: int | None = None
    estimated_wait_seconds: int | None = None
    # Rated since it was last resolved (the widget then thanks instead of asking), and how.
    rated: bool = False
    rating: int | None = None
    # The agent who has it (display name, for the widget's header and its system lines).
    agent_name: str = ""


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


class QueueEntryOut(BaseModel):
    """One waiting conversation, in serving order."""

    conversation_id: int
    position: int
    visitor_name: str
    team_id: int | None
    priority: int
    queued_at: datetime


class RoutingEventOut(BaseModel):
    """One routing decision and its reason, for the conversation timeline."""

    id: int
    conversation_id: int
    kind: str
    rule: str
    # The decision in words, in the reader's language (the socket's agent, the API request's).
    reason: str
    from_user_id: int | None
    to_user_id: int | None
    team_id: int | None
    actor_id: int | None
    created_at: datetime


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


# WebSocket close codes the server uses.
CLOSE_CODES = {
    4401: "Not authenticated (agent without session; visitor token invalid or expired).",
    4403: "Not allowed (origin not allowed for the widget key, unknown widget key, "
    "not a member of the merchant, token for another merchant); on an open agent socket: "
    "access revoked (membership deactivated or removed, user deactivated). Do not reconnect.",
    4408: "Heartbeat missed: no frame from the client for the heartbeat timeout.",
    4429: "Too many open sockets for this visitor, too many sockets opened from this address "
    "lately, or too many failed visitor sign-ins from it: reconnect after the `retry_after` of "
    "the error frame before it, slowly.",
}


class FrameError(Exception):
    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None, ref=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.ref = ref


def _adapter(frames):
    # Union[...] of a runtime tuple: `X | Y` cannot be spelled for a list built at import time.
    union = Annotated[Union[tuple(frames)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


_ADAPTERS = {"visitor": _adapter(VISITOR_CLIENT_FRAMES), "agent": _adapter(AGENT_CLIENT_FRAMES)}
_TYPES = {
    role: {f.model_fields["type"].annotation.__args__[0] for f in frames}
    for role, frames in (("visitor", VISITOR_CLIENT_FRAMES), ("agent", AGENT_CLIENT_FRAMES))
}


def parse_client_frame(role: str, data) -> Frame:
    """Validate a decoded JSON value as a client frame for `role`, or raise FrameError."""
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.INVALID_JSON, "A frame is a JSON object.")
    ref = client_ref(data)
    frame_type = data.get("type")
    # Not `in` first: a list or an object as `type` is unhashable (TypeError, internal_error).
    if not isinstance(frame_type, str) or frame_type not in _TYPES[role]:
        shown = repr(frame_type) if isinstance(frame_type, str) else "of the wrong type"
        raise FrameError(
            ErrorCode.UNKNOWN_TYPE,
            f"Unknown frame type {shown[:80]} for a {role} socket.",
            ref=ref,
        )
    surrogates = _surrogate_fields(data)
    if surrogates:
        raise FrameError(ErrorCode.INVALID_FRAME, "The frame is not valid.", surrogates, ref=ref)
    try:
        return _ADAPTERS[role].validate_python(data)
    except ValidationError as exc:
        fields = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if p != frame_type]
            fields[".".join(loc) or "frame"] = err["msg"]
        raise FrameError(
            ErrorCode.INVALID_FRAME, "The frame is not valid.", fields, ref=ref
        ) from None


def client_ref(data) -> str | None:
    """The frame's `client_msg_id` to echo as an error's `ref`, if it can be echoed: a string
    (cut to the field's 64 characters) without a lone surrogate, which cannot be sent as UTF-8:
    echoing one closed the socket with 1011 (found by the WebSocket fuzz)."""
    ref = data.get("client_msg_id") if isinstance(data, dict) else None
    if not isinstance(ref, str) or surrogate_in(ref):
        return None
    return ref[:64]


def _surrogate_fields(data: dict) -> dict[str, str]:
    """Every string of the frame (at any depth, keys too) holding a lone surrogate, by field
    path: the same rule as the REST API's (kefu/text.py), checked before anything is stored."""
    found: dict[str, str] = {}
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            char = surrogate_in(value)
            if char:
                found[path or "frame"] = f"{SURROGATE_MESSAGE} ({char})"
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if surrogate_in(str(key)):
                    found[path or "frame"] = SURROGATE_MESSAGE
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", item) for i, item in enumerate(value))
    return found
