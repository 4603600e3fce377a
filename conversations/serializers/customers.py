"""Visitors and their customer data (issue 13): the visitor, changing or creating one through
the API, labels, custom attributes, notes, blocking and the profile."""

from __future__ import annotations

import re

from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from kefu.api import StrictCharField, UtcDateTimeField

from ..models import AttributeDefinition, Label, Visitor
from .common import ID_BOUNDS


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
        child=serializers.IntegerField(**ID_BOUNDS), required=False, default=list, max_length=50
    )
    remove = serializers.ListField(
        child=serializers.IntegerField(**ID_BOUNDS), required=False, default=list, max_length=50
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
