"""REST API shapes of the knowledge base. Lists (similar questions, examples, keywords, synonyms)
are JSON arrays here; the rules (lengths, uniqueness, slots, sanitising) live in
knowledge.services, so the API and the admin report the same errors."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kefu.api import StrictCharField, UtcDateTimeField

from .models import Intent
from .richtext import html_to_text
from .textutil import split_lines, split_list


class TextList(serializers.ListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("child", StrictCharField(allow_blank=True, trim_whitespace=False))
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)


class CategorySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = StrictCharField(max_length=100)
    sort_order = serializers.IntegerField(
        required=False, min_value=-(2**31) + 1, max_value=2**31 - 1
    )


class FaqSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    category_id = serializers.IntegerField(required=False, allow_null=True)
    category = serializers.SerializerMethodField()
    question = StrictCharField(max_length=500)
    similar_questions = TextList(required=False)
    answer = StrictCharField(
        max_length=20000, help_text=_("Safe rich text: unsafe markup is removed.")
    )
    answer_text = serializers.SerializerMethodField()
    keywords = TextList(required=False, max_length=100)
    is_enabled = serializers.BooleanField(required=False)
    valid_from = UtcDateTimeField(required=False, allow_null=True)
    valid_until = UtcDateTimeField(required=False, allow_null=True)
    hits = serializers.IntegerField(read_only=True)
    created_at = UtcDateTimeField(read_only=True)
    updated_at = UtcDateTimeField(read_only=True)

    def get_category(self, obj) -> str | None:
        return obj.category.name if obj.category_id else None

    def get_answer_text(self, obj) -> str:
        """The answer without markup, as the bot and the widget show it."""
        return html_to_text(obj.answer)

    def to_representation(self, obj):
        data = super().to_representation(obj)
        data["similar_questions"] = split_lines(obj.similar_questions)
        data["keywords"] = split_list(obj.keywords)
        return data


class FaqFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        max_length=100,
        help_text=_("Text in the question or the similar questions."),
    )
    category_id = serializers.IntegerField(required=False)
    is_enabled = serializers.BooleanField(required=False, allow_null=True, default=None)


class SlotSerializer(serializers.Serializer):
    name = StrictCharField(max_length=50)
    prompt = StrictCharField(max_length=500)
    pattern = StrictCharField(
        max_length=300,
        required=False,
        allow_blank=True,
        help_text=_("A regular expression the answer must match."),
    )
    reprompt = StrictCharField(max_length=500, required=False, allow_blank=True)


class IntentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = StrictCharField(max_length=100)
    examples = TextList()
    answer = StrictCharField(max_length=20000, required=False, allow_blank=True)
    answer_text = serializers.SerializerMethodField()
    action = serializers.ChoiceField(choices=Intent.Action.choices, required=False)
    slots = SlotSerializer(many=True, required=False)
    is_enabled = serializers.BooleanField(required=False)
    created_at = UtcDateTimeField(read_only=True)
    updated_at = UtcDateTimeField(read_only=True)

    def get_answer_text(self, obj) -> str:
        return html_to_text(obj.answer)

    def to_representation(self, obj):
        data = super().to_representation(obj)
        data["examples"] = split_lines(obj.examples)
        data["slots"] = obj.slots
        return data


class SynonymSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    word = StrictCharField(max_length=100)
    synonyms = TextList()

    def to_representation(self, obj):
        data = super().to_representation(obj)
        data["synonyms"] = split_list(obj.synonyms)
        return data


class DictionaryWordSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    word = StrictCharField(max_length=100)
    frequency = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=10**9 - 1
    )


# --- Import, export, gaps -------------------------------------------------------------------------


class ImportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["faqs", "intents", "synonyms", "dictionary"])
    format = serializers.ChoiceField(choices=["csv", "json", "xlsx"])
    mode = serializers.ChoiceField(choices=["upsert", "replace"], default="upsert")
    file = serializers.FileField()


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        help_text=_("Row in the sheet (header = 1) or JSON item (from 1); 0 = the whole file.")
    )
    field = serializers.CharField()
    message = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    deleted = serializers.IntegerField()
    unchanged = serializers.IntegerField(
        help_text=_("Rows that matched an existing entry exactly.")
    )
    rows = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "validating", "writing", "done", "failed"])
    done_rows = serializers.IntegerField()
    total_rows = serializers.IntegerField()
    result = serializers.SerializerMethodField()
    created_at = UtcDateTimeField()
    finished_at = UtcDateTimeField(allow_null=True)

    @extend_schema_field(ImportResultSerializer(allow_null=True))
    def get_result(self, obj):
        return obj.result if obj.status in ("done", "failed") else None


class ExportQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["faqs", "intents", "synonyms", "dictionary"])
    format = serializers.ChoiceField(choices=["csv", "json", "xlsx"], default="csv")


class GapGroupSerializer(serializers.Serializer):
    representative = serializers.CharField()
    count = serializers.IntegerField()
    last_asked = UtcDateTimeField()
    examples = serializers.ListField(child=serializers.CharField())
    question_ids = serializers.ListField(child=serializers.IntegerField())
