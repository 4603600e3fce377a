"""REST API shapes.

Conversations and messages leave the API in exactly the shapes the agent socket sends
(`protocol.ConversationOut`, `protocol.MessageOut`): the workspace renders both with the same
code. Their serializers therefore hand the instance to `realtime.*_out()` and only declare the
fields so that the OpenAPI schema describes them; tests/conversations/test_api_conversations.py
checks the declared fields against the pydantic models, so the schema cannot drift from the wire.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from pydantic import TypeAdapter
from rest_framework import serializers

from kefu.api import StrictCharField, StrictRegexField, UtcDateTimeField

from .. import presence, protocol, realtime
from ..models import (
    AttributeDefinition,
    CannedResponse,
    Conversation,
    Label,
    Message,
    RoutingEvent,
    Visitor,
)

_ID_BOUNDS = {"min_value": 1, "max_value": 2**63 - 1}  # a huge number must not reach the driver

# --- Conversations and messages (socket shapes) -------------------------------------------------


class ConversationVisitorSerializer(serializers.Serializer):
    """`protocol.VisitorOut`: `name` is the display name (name, else email, else a short id)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()
    page_url = serializers.CharField()
    page_title = serializers.CharField()
    last_seen_at = UtcDateTimeField()
    online = serializers.BooleanField(
        allow_null=True, help_text="True while one of the visitor's sockets is live."
    )


def _conversations_out(conversations: list[Conversation]) -> list[dict]:
    """One presence round trip for the whole page, no database query."""
    if not conversations:
        return []
    online = presence.visitors_online(
        conversations[0].merchant_id, [c.visitor_id for c in conversations]
    )
    return [
        realtime.conversation_out(c, online[c.visitor_id]).model_dump(mode="json")
        for c in conversations
    ]


class ConversationListSerializer(serializers.ListSerializer):
    def to_representation(self, data) -> list[dict]:
        return _conversations_out(list(data))


class ConversationSerializer(serializers.Serializer):
    """`protocol.ConversationOut`, as in the socket's `conversation.updated` frame."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    visitor = ConversationVisitorSerializer()
    assignee_id = serializers.IntegerField(allow_null=True, help_text="User id of the assignee.")
    last_seq = serializers.IntegerField(help_text="Highest message `seq` in the conversation.")
    last_message_at = UtcDateTimeField(allow_null=True)
    last_message_preview = serializers.CharField()
    last_message_sender_kind = serializers.CharField(help_text="Empty before the first message.")
    unread_count = serializers.IntegerField(help_text="Visitor messages no agent has read.")
    created_at = UtcDateTimeField()
    agent_last_read_seq = serializers.IntegerField(help_text="Highest `seq` agents have read.")
    visitor_last_read_seq = serializers.IntegerField(
        help_text="Highest `seq` the visitor has read."
    )
    source = serializers.ChoiceField(choices=Conversation.Source.choices)
    team_id = serializers.IntegerField(allow_null=True, help_text="The team it is routed to.")
    priority = serializers.IntegerField(help_text="Higher is served first from the queue.")
    queued_at = UtcDateTimeField(allow_null=True, help_text="Set while waiting in the queue.")
    queue_position = serializers.IntegerField(
        allow_null=True, help_text="1 = next from the queue; null when not queued or not known."
    )
    bot_active = serializers.BooleanField(help_text="The knowledge-base bot is answering.")
    intent = serializers.CharField(help_text="The intent the bot detected, if any.")
    awaiting_reply_since = UtcDateTimeField(
        allow_null=True, help_text="Since when the visitor waits for an answer; null: answered."
    )
    snoozed_at = UtcDateTimeField(allow_null=True, help_text="Set while snoozed.")
    snoozed_until = UtcDateTimeField(
        allow_null=True,
        help_text="When a snooze ends; null while snoozed means until the visitor writes.",
    )
    label_ids = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="Ids of its labels (null in socket frames that did not load them).",
    )
    rating = serializers.IntegerField(
        allow_null=True,
        help_text="The visitor's satisfaction, 1-5 (satisfied / neutral / dissatisfied: 5 / 3 / "
        "1); null until rated.",
    )
    rating_comment = serializers.CharField(
        allow_blank=True, help_text="The visitor's comment with the rating (their text)."
    )

    class Meta:
        list_serializer_class = ConversationListSerializer

    def to_representation(self, instance: Conversation) -> dict:
        return _conversations_out([instance])[0]


class AttachmentSerializer(serializers.Serializer):
    """`protocol.AttachmentOut`: `url` and `thumbnail_url` are signed links that expire."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["image", "file"])
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    url = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)

    def to_representation(self, instance) -> dict:
        return realtime.attachment_upload_out(instance).model_dump(mode="json")


class MessageSerializer(serializers.Serializer):
    """`protocol.MessageOut`, as in the socket's `message.created` frame."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="1, 2, 3... within the conversation, without gaps.")
    sender_kind = serializers.ChoiceField(choices=Message.SenderKind.choices)
    sender_name = serializers.CharField()
    body = serializers.CharField()
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    client_msg_id = serializers.CharField(allow_null=True)
    private = serializers.BooleanField(help_text="An internal note; visitors never see it.")
    created_at = UtcDateTimeField()
    meta = serializers.DictField(
        help_text="Structured extras, e.g. a bot answer's confidence, intent and choices."
    )
    sentiment_score = serializers.FloatField(
        allow_null=True, help_text="Visitor messages: sentiment in [-1, 1]."
    )
    sentiment_label = serializers.ChoiceField(
        choices=["positive", "neutral", "negative", ""], allow_blank=True
    )
    attachment = AttachmentSerializer(
        allow_null=True, help_text="The image or file the message carries (null: none)."
    )

    def to_representation(self, instance: Message) -> dict:
        return realtime.message_out(instance).model_dump(mode="json")


# The socket's rule for client_msg_id, read from protocol.py so the two cannot differ.
_CLIENT_MSG_ID = TypeAdapter(protocol.ClientMsgId).json_schema()


class MessageCreateSerializer(serializers.Serializer):
    body = StrictCharField(
        trim_whitespace=False,
        allow_blank=True,
        # Empty and over-long bodies are refused by services.clean_body, the rule the socket
        # uses too; the field only insists on text.
        help_text="The text. Trimmed; must not be empty or longer than MESSAGE_MAX_LENGTH.",
    )
    client_msg_id = StrictRegexField(
        _CLIENT_MSG_ID["pattern"],
        min_length=_CLIENT_MSG_ID["minLength"],
        max_length=_CLIENT_MSG_ID["maxLength"],
        required=False,
        help_text="Your id for this message. Sending it again returns the stored message "
        "(HTTP 200) instead of a copy; with another body it is refused.",
    )
    private = serializers.BooleanField(
        required=False, default=False, help_text="Store an internal note the visitor never sees."
    )
    user_id = serializers.IntegerField(
        # The bound keeps a huge number from reaching the database driver (SQLite overflows).
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Send as this agent (an active member of the merchant). Default: the API "
        "token's name, or the logged-in agent.",
    )
    attachment_id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="An upload of yours into this conversation (POST .../attachments/ first): the "
        "message carries it and `body` is an optional caption.",
    )


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # refused by the service with the clearer code file_empty
        use_url=False,
        help_text="The image or file. Its type is read from its content, not its name.",
    )
    upload_id = StrictRegexField(
        _CLIENT_MSG_ID["pattern"],
        min_length=_CLIENT_MSG_ID["minLength"],
        max_length=_CLIENT_MSG_ID["maxLength"],
        help_text="Your id for this upload. Uploading again with it returns the stored upload "
        "(HTTP 200) instead of a copy; with another file it is refused.",
    )


def _search_terms(value: str) -> list[str]:
    from .. import search

    try:
        return search.parse_query(value)
    except search.QueryError as exc:
        raise serializers.ValidationError(str(exc)) from None


class SearchTextField(serializers.CharField):
    """`q`: the search text, turned into its terms (conversations/search.py parse_query)."""

    def __init__(self, *, blank_is_none: bool = False, **kwargs):
        # blank_is_none: `?q=` on a list means "no search" (forms send the empty box).
        self.blank_is_none = blank_is_none
        super().__init__(trim_whitespace=False, allow_blank=blank_is_none, **kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if self.blank_is_none and not text.strip():
            return None
        return _search_terms(text)


class ConversationFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Conversation.Status.choices, required=False, help_text="Only this status."
    )
    # The inbox's views, filters and sort (docs/desk.md, "Views and search"). A new filter
    # (labels) is a field here and a line in selectors.inbox_filter.
    label = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Only conversations with this label (an id from /api/v1/labels/).",
    )
    view = serializers.ChoiceField(
        choices=["mine", "unassigned", "queued", "open", "snoozed", "resolved"],
        required=False,
        help_text="mine: assigned to you, open, not snoozed (needs a login session); "
        "unassigned: open, nobody has it, not queued; queued: waiting in the queue; open: "
        "every open one not snoozed; snoozed; resolved: resolved or closed.",
    )
    team = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Only this team's."
    )
    sort = serializers.ChoiceField(
        choices=["newest", "waiting", "priority"],
        required=False,
        default="newest",
        help_text="newest: latest activity first (default); waiting: the visitor waiting "
        "longest for an answer first, answered ones last; priority: highest first, then "
        "waiting.",
    )
    q = SearchTextField(
        required=False,
        blank_is_none=True,
        help_text="Search text: every word must occur in a message of the conversation or "
        "in the visitor's name, email, phone or identity id (substrings, Chinese too); "
        "empty: no search.",
    )


class MessageSearchSerializer(serializers.Serializer):
    q = SearchTextField(help_text="Search text: every word must occur in the message body.")
    before = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Page on: messages with an id below this (the `next` link sets it).",
    )
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class MessageHitVisitorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MessageHitSerializer(serializers.Serializer):
    """A message that matched, with its conversation, visitor and the ranges to mark."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField()
    sender_kind = serializers.ChoiceField(choices=Message.SenderKind.choices)
    sender_name = serializers.CharField()
    body = serializers.CharField()
    private = serializers.BooleanField()
    created_at = UtcDateTimeField()
    conversation_status = serializers.CharField(
        help_text="The conversation's status: open, pending, resolved or closed."
    )
    visitor = MessageHitVisitorSerializer()
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) character ranges of `body` where a search word occurs.",
    )

    def to_representation(self, hit) -> dict:
        m = hit.message
        return {
            "id": m.pk,
            "conversation_id": m.conversation_id,
            "seq": m.seq,
            "sender_kind": m.sender_kind,
            "sender_name": m.sender_name,
            "body": m.body,
            "private": m.is_private,
            "created_at": UtcDateTimeField().to_representation(m.created_at),
            "conversation_status": m.conversation.status,
            "visitor": {
                "id": m.conversation.visitor_id,
                "name": m.conversation.visitor.display_name,
            },
            "highlights": [list(span) for span in hit.highlights],
        }


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When to wake it (with a time zone); null or absent: when the visitor "
        "writes again.",
    )
    user_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="With a token: who acts."
    )


class PrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(
        choices=[0, 10, 20], help_text="0 normal, 10 high, 20 urgent."
    )
    user_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="With a token: who acts."
    )


class InboxCountsSerializer(serializers.Serializer):
    mine = serializers.IntegerField(required=False, help_text="Only with a login session.")
    unassigned = serializers.IntegerField()
    queued = serializers.IntegerField()
    open = serializers.IntegerField()
    snoozed = serializers.IntegerField()
    teams = serializers.DictField(
        child=serializers.IntegerField(), help_text="Team id -> open conversations."
    )
    labels = serializers.DictField(
        child=serializers.IntegerField(), help_text="Label id -> open conversations."
    )


class MessageFilterSerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(
        required=False, min_value=0, help_text="Only messages with a greater `seq`."
    )


# --- Visitors and canned responses ----------------------------------------------------------------


class VisitorSerializer(serializers.ModelSerializer):
    # `anonymous_id` is deliberately absent: it is the visitor's credential for the widget.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }
    # Most visitors have none: "" is not `format: email`, which the model field would document
    # (found by schemathesis).
    email = serializers.CharField(read_only=True, help_text="E-mail address, or empty.")

    class Meta:
        model = Visitor
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "external_id",
            "attributes",
            "first_seen_at",
            "last_seen_at",
            "ip",
            "user_agent",
            "page_url",
            "page_title",
            "referrer",
            "language",
            "blocked_at",
            "block_reason",
        ]
        read_only_fields = fields


class CannedResponseSerializer(serializers.ModelSerializer):
    personal = serializers.SerializerMethodField(
        help_text="True: the acting agent's own reply; false: shared by the whole merchant."
    )

    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "title", "text", "personal", "usage_count", "search_key"]
        read_only_fields = fields
        extra_kwargs = {
            "search_key": {"help_text": "Pinyin and initials of shortcut and title, for filtering."}
        }

    def get_personal(self, obj) -> bool:
        return obj.owner_id is not None


class CannedResponseWriteSerializer(serializers.Serializer):
    """Create (all but `title` required) or edit (any subset) a quick reply."""

    shortcut = serializers.RegexField(
        r"^[-\w]+\Z", max_length=50, help_text="Letters, digits, - or _ (Chinese allowed)."
    )
    title = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    text = serializers.CharField(max_length=settings.MESSAGE_MAX_LENGTH, trim_whitespace=True)
    personal = serializers.BooleanField(
        required=False, default=False, help_text="Only for creating: the agent's own reply."
    )


# --- Routing (socket shapes: protocol.TeamOut, QueueEntryOut, RoutingEventOut) -------------------


class PydanticOut(serializers.Serializer):
    """Declared fields describe the pydantic model for the schema; the model renders."""

    def to_representation(self, instance) -> dict:
        return instance.model_dump(mode="json")


class TeamSerializer(PydanticOut):
    """`protocol.TeamOut`."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    member_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="User ids of the team's active members."
    )


class QueueEntrySerializer(PydanticOut):
    """`protocol.QueueEntryOut`."""

    conversation_id = serializers.IntegerField()
    position = serializers.IntegerField(help_text="1 = served next.")
    visitor_name = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    priority = serializers.IntegerField()
    queued_at = UtcDateTimeField()


class QueueSerializer(serializers.Serializer):
    """The socket's `queue.changed` frame without its `type`."""

    queue = QueueEntrySerializer(many=True, help_text="Serving order, at most 100 entries.")
    total = serializers.IntegerField(help_text="How many conversations wait in all.")

    def to_representation(self, instance) -> dict:
        return instance.model_dump(mode="json", include={"queue", "total"})


class RoutingEventSerializer(PydanticOut):
    """`protocol.RoutingEventOut`, as in the socket's `routing.event` frame."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=RoutingEvent.Kind.choices)
    rule = serializers.CharField(help_text="Machine-readable rule, e.g. sticky, least_busy.")
    reason = serializers.CharField(help_text='The decision in words, e.g. "least-busy: 1/5 open".')
    from_user_id = serializers.IntegerField(allow_null=True)
    to_user_id = serializers.IntegerField(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    actor_id = serializers.IntegerField(allow_null=True, help_text="Null: the router decided.")
    created_at = UtcDateTimeField()

    def to_representation(self, instance: RoutingEvent) -> dict:
        from ..selectors import routing_event_out

        # In the language of the agent asking (LocaleMiddleware), as their socket says it.
        return routing_event_out(instance, translation.get_language()).model_dump(mode="json")


_ID = {"min_value": 1, "max_value": 2**63 - 1}  # a huge number must not reach the driver


class ClaimSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(
        required=False,
        **_ID,
        help_text="With an API token: the agent who takes it (required). With a login "
        "session you claim for yourself.",
    )


class TransferSerializer(serializers.Serializer):
    to_user_id = serializers.IntegerField(required=False, **_ID, help_text="Hand to this agent.")
    to_team_id = serializers.IntegerField(
        required=False, **_ID, help_text="Or: route it within this team."
    )
    note = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        default="",
        help_text="Stored as a private note on the conversation.",
    )
    user_id = serializers.IntegerField(
        required=False,
        **_ID,
        help_text="With an API token: the agent or supervisor doing it (required).",
    )

    def validate(self, data):
        if ("to_user_id" in data) == ("to_team_id" in data):
            raise serializers.ValidationError(
                {"to_user_id": [_("Give either to_user_id or to_team_id.")]}
            )
        return data


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[Conversation.Status.OPEN, Conversation.Status.RESOLVED],
        help_text="resolved frees the agent's slot and serves the queue; open reopens it.",
    )
    user_id = serializers.IntegerField(
        required=False, **_ID, help_text="With an API token: who did it (optional)."
    )


# --- Conversations started and visitors changed through the API -------------------------------


class ConversationCreateSerializer(MessageCreateSerializer):
    """Start a conversation: `inbound`, the visitor's message as if sent from the widget (the
    bot and the router then act as for a chat), or `outbound` (the default), the merchant
    writing first under the token's name or as `user_id`'s agent, who then has it."""

    private = None  # a conversation does not start with a note
    visitor_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    direction = serializers.ChoiceField(choices=["inbound", "outbound"], default="outbound")


class ConversationStartedSerializer(serializers.Serializer):
    conversation = ConversationSerializer()
    message = MessageSerializer()


# Custom attributes: a flat object of a few dozen scalar values.
ATTRIBUTE_KEY = r"^[A-Za-z0-9_.-]{1,50}\Z"
MAX_ATTRIBUTES = 50


class VisitorUpdateSerializer(serializers.Serializer):
    """Change any subset of a visitor's contact fields. `attributes` is merged into the
    custom attributes; a key set to null is removed."""

    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = StrictCharField(max_length=40, required=False, allow_blank=True)
    external_id = StrictCharField(
        max_length=128,
        required=False,
        allow_blank=True,
        help_text="Your own user id for this visitor; setting it sends `visitor.identified`.",
    )
    attributes = serializers.DictField(required=False, help_text="Custom attributes to merge.")

    def validate_attributes(self, value: dict) -> dict:
        if len(value) > MAX_ATTRIBUTES:
            raise serializers.ValidationError(_("At most %d attributes.") % MAX_ATTRIBUTES)
        for key, item in value.items():
            if not re.match(ATTRIBUTE_KEY, key):
                raise serializers.ValidationError(
                    _("%(key)s: keys are 1-50 letters, digits, _ . or -.") % {"key": key[:60]}
                )
            if item is not None and not isinstance(item, str | int | float | bool):
                raise serializers.ValidationError(
                    _("%(key)s: a value is text, a number, true/false or null.") % {"key": key}
                )
            if isinstance(item, str) and len(item) > 500:
                raise serializers.ValidationError(
                    _("%(key)s: at most 500 characters.") % {"key": key}
                )
        return value


class VisitorCreateSerializer(serializers.Serializer):
    """A contact to create. With `external_id`, a second create with the same id answers the
    existing contact (200, unchanged). `attributes` must be the merchant's custom attributes
    (GET /api/v1/attributes/) with values of their type."""

    external_id = StrictCharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="Your own user id for this contact (the identity id of the widget's signed "
        "identity); the create is idempotent on it.",
    )
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = StrictCharField(max_length=40, required=False, allow_blank=True, default="")
    attributes = serializers.DictField(
        required=False, default=dict, help_text="Custom attribute values by key."
    )

    def validate_attributes(self, value: dict) -> dict:
        if len(value) > MAX_ATTRIBUTES:
            raise serializers.ValidationError(_("At most %d attributes.") % MAX_ATTRIBUTES)
        return value


# --- Customers: labels, custom attributes, profiles, notes, blocking (issue 13) -----------------


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "colour", "description"]
        read_only_fields = fields


class LabelWriteSerializer(serializers.Serializer):
    """Create (name required) or edit (any subset) a label; the rules are the service's."""

    name = StrictCharField(max_length=50)
    colour = StrictCharField(required=False, help_text="#rrggbb, e.g. #2563eb.")
    description = StrictCharField(max_length=200, required=False, allow_blank=True)


class ConversationLabelsSerializer(serializers.Serializer):
    add = serializers.ListField(
        child=serializers.IntegerField(**_ID_BOUNDS), required=False, default=list, max_length=50
    )
    remove = serializers.ListField(
        child=serializers.IntegerField(**_ID_BOUNDS), required=False, default=list, max_length=50
    )


class ConversationLabelsOutSerializer(serializers.Serializer):
    label_ids = serializers.ListField(child=serializers.IntegerField())


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AttributeDefinition
        fields = ["id", "key", "name", "kind", "choices"]
        read_only_fields = ["id"]
        extra_kwargs = {"choices": {"required": False}}


class NoteCreateSerializer(serializers.Serializer):
    body = StrictCharField(max_length=2000)


class NoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    author_id = serializers.IntegerField(allow_null=True)
    author_name = serializers.CharField()
    created_at = UtcDateTimeField()


class BlockSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=300, required=False, allow_blank=True, default="")


class BlockByIdentitySerializer(BlockSerializer):
    external_id = StrictCharField(max_length=128, help_text="The site's user id (signed identity).")


class ProfilePageViewSerializer(serializers.Serializer):
    url = serializers.CharField()
    title = serializers.CharField()
    viewed_at = UtcDateTimeField()


class ProfileConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # Plain strings, not enums: the schema already names these choice sets once.
    status = serializers.CharField(help_text="open, pending, resolved or closed.")
    created_at = UtcDateTimeField()
    last_message_at = UtcDateTimeField(allow_null=True)
    last_message_preview = serializers.CharField()
    label_ids = serializers.ListField(child=serializers.IntegerField())


class ProfileAttributeSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="text, number, date or choice.")
    choices = serializers.ListField(child=serializers.CharField())
    value = serializers.JSONField(allow_null=True, help_text="A string, a number or YYYY-MM-DD.")


class DeviceSerializer(serializers.Serializer):
    browser = serializers.CharField()
    os = serializers.CharField()
    form = serializers.ChoiceField(choices=["desktop", "phone", "tablet", ""])


class PrechatAnswerSerializer(serializers.Serializer):
    question = serializers.CharField(help_text="The merchant's label of the question.")
    answer = serializers.CharField(help_text="The visitor's words (untrusted text).")


class PrechatSerializer(serializers.Serializer):
    answered_at = serializers.CharField(help_text="When the form was sent (ISO 8601).")
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    answers = PrechatAnswerSerializer(many=True, help_text="The merchant's own questions.")


class VisitorProfileSerializer(serializers.Serializer):
    """The customer profile the workspace's visitor pane shows."""

    id = serializers.IntegerField()
    name = serializers.CharField(help_text="Display name: name, else email, else a short id.")
    email = serializers.CharField()
    phone = serializers.CharField()
    external_id = serializers.CharField(help_text="The site's user id (signed identity).")
    identified = serializers.BooleanField()
    first_seen_at = UtcDateTimeField()
    last_seen_at = UtcDateTimeField()
    page_url = serializers.CharField()
    page_title = serializers.CharField()
    referrer = serializers.CharField(help_text="The other site the visitor came from.")
    language = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    device = DeviceSerializer()
    time_on_site_seconds = serializers.IntegerField(help_text="Length of the current visit.")
    page_views = ProfilePageViewSerializer(many=True, help_text="Newest first, at most 30.")
    page_view_count = serializers.IntegerField(help_text="Pages in the stored trail (max 100).")
    conversations = ProfileConversationSerializer(many=True, help_text="Newest first, max 20.")
    attributes = ProfileAttributeSerializer(many=True)
    notes = NoteSerializer(many=True, help_text="Newest first, at most 50.")
    label_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Labels of any of their conversations."
    )
    prechat = PrechatSerializer(
        allow_null=True, help_text="The pre-chat form's answers; null if never answered."
    )
    blocked = serializers.BooleanField()
    blocked_at = UtcDateTimeField(allow_null=True)
    blocked_by = serializers.CharField(help_text="Display name of the agent who blocked.")
    block_reason = serializers.CharField()
