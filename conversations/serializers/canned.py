"""Quick replies (canned responses)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from ..models import CannedResponse


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
