"""Conversations and messages.

They leave the API in exactly the shapes the agent socket sends (`protocol.ConversationOut`,
`protocol.MessageOut`): the workspace renders both with the same code. Their serializers
therefore hand the instance to `realtime.*_out()` and only declare the fields so that the
OpenAPI schema describes them; tests/conversations/test_api_conversations.py checks the declared
fields against the pydantic models, so the schema cannot drift from the wire.
"""

from __future__ import annotations

from pydantic import TypeAdapter
from rest_framework import serializers

from kefu.api import StrictCharField, StrictRegexField, UtcDateTimeField

from .. import presence, protocol, realtime
from ..models import Conversation, Message


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


# The socket's rule for client_msg_id, read from the protocol so the two cannot differ.
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


class MessageFilterSerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(
        required=False, min_value=0, help_text="Only messages with a greater `seq`."
    )


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
