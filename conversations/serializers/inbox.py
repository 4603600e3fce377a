"""The inbox: its filters and search text, message search hits, the counts, snooze and priority
(docs/desk.md, docs/search.md)."""

from __future__ import annotations

from rest_framework import serializers

from kefu.api import UtcDateTimeField

from ..models import Conversation, Message


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
