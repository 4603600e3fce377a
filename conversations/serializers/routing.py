"""Routing: teams, the queue and routing events (socket shapes: protocol.TeamOut, QueueEntryOut,
RoutingEventOut), and the bodies of claim, transfer and status."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from kefu.api import StrictCharField, UtcDateTimeField

from ..models import Conversation, RoutingEvent
from .common import ID_BOUNDS


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


class ClaimSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(
        required=False,
        **ID_BOUNDS,
        help_text="With an API token: the agent who takes it (required). With a login "
        "session you claim for yourself.",
    )


class TransferSerializer(serializers.Serializer):
    to_user_id = serializers.IntegerField(
        required=False, **ID_BOUNDS, help_text="Hand to this agent."
    )
    to_team_id = serializers.IntegerField(
        required=False, **ID_BOUNDS, help_text="Or: route it within this team."
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
        **ID_BOUNDS,
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
        required=False, **ID_BOUNDS, help_text="With an API token: who did it (optional)."
    )
