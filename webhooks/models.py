"""Webhook endpoints of a merchant, one delivery per (domain event, endpoint), and the log of
every attempt. How deliveries are made and why they survive a killed worker: docs/webhooks.md."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models import ConversationEvent
from merchants.models import Merchant

Kind = ConversationEvent.Kind

# The kinds an endpoint may subscribe to (the first reply and the bot's hand-over are figures
# for reports, not integration events).
SUBSCRIBABLE = [
    Kind.CONVERSATION_CREATED,
    Kind.CONVERSATION_ASSIGNED,
    Kind.CONVERSATION_TRANSFERRED,
    Kind.CONVERSATION_RESOLVED,
    Kind.CONVERSATION_REOPENED,
    Kind.MESSAGE_CREATED,
    Kind.RATED,
    Kind.VISITOR_IDENTIFIED,
    Kind.LABELS_CHANGED,
]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A URL of the merchant's that receives the events it subscribes to, signed with `secret`
    (shown once, when the endpoint is created)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    # Kept to sign deliveries (an HMAC needs the secret itself); never shown after creation.
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    # After a rotation (services.endpoint_secret_rotate) the replaced secret still signs, next
    # to the new one, until `previous_secret_expires_at`: receivers switch without a gap.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(
        _("previous secret valid until"), null=True, blank=True, editable=False
    )
    # Events up to this id have been considered for this endpoint (services.fanout); set to the
    # newest event at creation, so a new endpoint gets what happens next, not the history.
    cursor = models.BigIntegerField(default=0, editable=False)
    # Failed attempts since the last success; WEBHOOK_DISABLE_AFTER of them disable it.
    failures_in_a_row = models.PositiveIntegerField(_("failures in a row"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now) -> list[str]:
        """The secrets a delivery at `now` is signed with: the current one first, then the
        replaced one while its grace period runs."""
        secrets_ = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and now < (self.previous_secret_expires_at)
        ):
            secrets_.append(self.previous_secret)
        return secrets_


class WebhookDelivery(models.Model):
    """One event for one endpoint: the unit that is retried and redelivered. Its idempotency key
    (event id and endpoint id) is the same on every attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    event = models.ForeignKey(ConversationEvent, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("event"), max_length=40, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    # The JSON body, built at the first attempt and sent unchanged on every later one.
    payload = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # While SENDING: when the attempt's worker is presumed dead (sweep hands it out again).
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_event")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["merchant", "-id"], name="delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.event_id}"

    @property
    def idempotency_key(self) -> str:
        return f"{self.event_id}-{self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as it went: the log integrators and admins read."""

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(_("at"))
    succeeded = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    response_excerpt = models.CharField(_("response (excerpt)"), max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.status_code or '-'} {self.error[:40]}".strip()
