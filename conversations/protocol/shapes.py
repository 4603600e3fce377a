"""The shapes carried inside server frames (a message, a conversation, a visitor, ...): they
change with the models and selectors that fill them, not with the frames that carry them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


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
