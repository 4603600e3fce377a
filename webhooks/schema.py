"""Every webhook payload, one pydantic class per event type: the one definition of what an
integrator receives. docs/webhook-events.md is generated from this module
(`python manage.py webhooks_doc --write`) and a test fails when the two differ.

Compatibility: within a `version`, fields are only ever added; a field removed or changed in
meaning means a new version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WEBHOOK_VERSION = 1


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationData(Shape):
    """The conversation as it is when the payload is built (the first attempt)."""

    id: int
    status: Literal["open", "pending", "resolved", "closed"]
    visitor_id: int
    assignee_id: int | None = Field(description="User id of the agent who has it.")
    team_id: int | None
    source: str = Field(description="`chat`, `offline_form` or `api`.")
    created_at: datetime
    resolved_at: datetime | None
    rating: int | None = Field(description="Satisfaction, 1 to 5.")
    labels: list[str]


class VisitorData(Shape):
    """The visitor (contact) as it is when the payload is built."""

    id: int
    external_id: str = Field(description="Your user id, from a signed identity; may be empty.")
    name: str
    email: str
    phone: str
    attributes: dict = Field(description="Custom attributes.")


class MessageData(Shape):
    """A message. `private` notes are seen by agents only, never by the visitor."""

    id: int
    seq: int = Field(description="Position in the conversation: 1, 2, 3, ... without gaps.")
    sender_kind: Literal["visitor", "agent", "bot", "system"]
    sender_name: str
    sender_user_id: int | None
    body: str
    private: bool
    created_at: datetime


class Event(Shape):
    """What every payload has."""

    id: int = Field(description="The event's id; with the endpoint it makes the idempotency key.")
    type: str = Field(description="The event type (the `X-Kefu-Event` header too).")
    version: Literal[1] = Field(WEBHOOK_VERSION, description="The payload version.")
    created_at: datetime = Field(description="When it happened.")
    merchant_id: int = Field(description="Your merchant id.")
    actor_user_id: int | None = Field(
        description="The agent who did it; null for the visitor, the router, the bot or a token."
    )


class ConversationCreatedData(Shape):
    conversation: ConversationData
    visitor: VisitorData


class ConversationCreated(Event):
    """A visitor (or the API) started a conversation."""

    type: Literal["conversation.created"]
    data: ConversationCreatedData


class ConversationAssignedData(Shape):
    conversation: ConversationData
    to_user_id: int | None = Field(description="The agent it was given to.")
    team_id: int | None
    rule: str = Field(description="Why: `least_busy`, `round_robin`, `sticky`, `claim`, ...")


class ConversationAssigned(Event):
    """The router, a claim or an answering agent gave the conversation to an agent."""

    type: Literal["conversation.assigned"]
    data: ConversationAssignedData


class ConversationTransferredData(Shape):
    conversation: ConversationData
    from_user_id: int | None
    to_user_id: int | None
    team_id: int | None
    rule: str


class ConversationTransferred(Event):
    """An agent or admin handed the conversation to another agent or team, or an acceptance
    timeout moved it on."""

    type: Literal["conversation.transferred"]
    data: ConversationTransferredData


class ConversationStateData(Shape):
    conversation: ConversationData


class ConversationResolved(Event):
    """Resolved by an agent, a token or the auto-resolve timer."""

    type: Literal["conversation.resolved"]
    data: ConversationStateData


class ConversationReopened(Event):
    """Reopened by an agent, or by the visitor writing again."""

    type: Literal["conversation.reopened"]
    data: ConversationStateData


class MessageCreatedData(Shape):
    conversation: ConversationData
    message: MessageData


class MessageCreated(Event):
    """A message was stored: the visitor's, an agent's, the bot's, or a private note. Recorded
    only while some endpoint of the merchant subscribes to it."""

    type: Literal["message.created"]
    data: MessageCreatedData


class RatingSubmittedData(Shape):
    conversation: ConversationData
    rating: int | None = Field(description="1 to 5 (a three-level survey gives 5, 3 or 1).")
    comment: str


class RatingSubmitted(Event):
    """The visitor rated the conversation."""

    type: Literal["conversation.rated"]
    data: RatingSubmittedData


class VisitorIdentifiedData(Shape):
    visitor: VisitorData


class VisitorIdentified(Event):
    """The site told us who the visitor is (a signed identity) or an agent or token set it."""

    type: Literal["visitor.identified"]
    data: VisitorIdentifiedData


class LabelsChangedData(Shape):
    conversation: ConversationData
    added: list[str]
    removed: list[str]


class LabelsChanged(Event):
    """Labels were added to or removed from the conversation; `conversation.labels` has the
    labels it has now."""

    type: Literal["conversation.labels_changed"]
    data: LabelsChangedData


EVENTS: list[type[Event]] = [
    ConversationCreated,
    ConversationAssigned,
    ConversationTransferred,
    ConversationResolved,
    ConversationReopened,
    MessageCreated,
    RatingSubmitted,
    VisitorIdentified,
    LabelsChanged,
]


def event_type(model: type[Event]) -> str:
    return model.model_fields["type"].annotation.__args__[0]


BY_TYPE: dict[str, type[Event]] = {event_type(m): m for m in EVENTS}
