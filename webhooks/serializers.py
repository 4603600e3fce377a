"""API shapes of webhook endpoints and deliveries. The payloads sent to receivers are
schema.py's, not these."""

from __future__ import annotations

from rest_framework import serializers

from kefu.api import StrictCharField, UtcDateTimeField

from .models import SUBSCRIBABLE, WebhookDelivery, WebhookEndpoint

EVENT_CHOICES = [k.value for k in SUBSCRIBABLE]


class EndpointSerializer(serializers.ModelSerializer):
    created_at = UtcDateTimeField(read_only=True)
    disabled_at = UtcDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "failures_in_a_row",
            "disabled_at",
            "disabled_reason",
            "created_at",
        )
        read_only_fields = fields


class EndpointCreatedSerializer(EndpointSerializer):
    """The endpoint as created, with its signing secret: the only time it is shown."""

    secret = serializers.CharField(read_only=True)

    class Meta(EndpointSerializer.Meta):
        fields = (*EndpointSerializer.Meta.fields, "secret")
        read_only_fields = fields


class EndpointRotatedSerializer(EndpointCreatedSerializer):
    """The endpoint with its new signing secret, shown this once. Until
    `previous_secret_valid_until` deliveries are signed with the old secret too."""

    previous_secret_valid_until = UtcDateTimeField(
        source="previous_secret_expires_at", read_only=True
    )

    class Meta(EndpointCreatedSerializer.Meta):
        fields = (*EndpointCreatedSerializer.Meta.fields, "previous_secret_valid_until")
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    """Create (url and events required) or change (any subset) an endpoint."""

    url = StrictCharField(max_length=500, help_text="http:// or https://, a public address.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1, max_length=20
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.IntegerField(read_only=True)
    idempotency_key = serializers.CharField(read_only=True)
    created_at = UtcDateTimeField(read_only=True)
    delivered_at = UtcDateTimeField(read_only=True)
    next_attempt_at = UtcDateTimeField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "event_id",
            "kind",
            "status",
            "attempts",
            "last_status_code",
            "idempotency_key",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        )
        read_only_fields = fields
