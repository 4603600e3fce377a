"""Back office for the notification log."""

from django.contrib import admin

from merchants.admin_scoping import MerchantScopedAdmin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(MerchantScopedAdmin):
    """Read-only log of notifications and escalations (notifications.services), with the
    provider's error when a send failed. The rows are the idempotency record: editing or
    deleting one could let a late task send again."""

    list_display = ("created_at", "conversation", "user", "reason", "channel", "sent", "error")
    list_filter = ("channel", "reason", "sent")
    list_select_related = ("conversation", "user", "merchant")
    ordering = ("-id",)

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
