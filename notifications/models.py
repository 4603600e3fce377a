"""The record of agent notifications: one row per notification raised and per send."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models import Conversation
from merchants.models import Merchant


class Notification(models.Model):
    """One escalation sent (or tried) to one agent on one channel. The unique `key` makes the
    Celery tasks that send them idempotent: a task firing twice or late cannot send twice."""

    class Channel(models.TextChoices):
        IN_APP = "in_app", _("In the workspace")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")

    class Reason(models.TextChoices):
        NEW = "new", _("New conversation")
        QUEUED = "queued", _("Visitor waiting in the queue")
        UNANSWERED = "unanswered", _("Unanswered message")
        RETURNED = "returned", _("Returned to the queue after timeouts")
        OFFLINE = "offline", _("Message left")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    key = models.CharField(max_length=200, unique=True)
    sent = models.BooleanField(_("sent"), default=False)
    error = models.CharField(_("error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        # The table keeps the name it had when the model lived in conversations (moved without
        # copying rows: migrations notifications 0001 / conversations 0004 change state only).
        db_table = "conversations_notification"
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["merchant", "-created_at"], name="notification_recent")]

    def __str__(self) -> str:
        return self.key
