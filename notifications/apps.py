from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # The one place conversations' signals reach this app (conversations never imports it).
        from conversations import signals

        from . import receivers

        signals.attention_needed.connect(
            receivers.attention_needed, dispatch_uid="notifications.attention_needed"
        )
        signals.visitor_reply_posted.connect(
            receivers.visitor_reply_posted, dispatch_uid="notifications.visitor_reply_posted"
        )
        signals.event_recorded.connect(
            receivers.event_recorded, dispatch_uid="notifications.survey_email"
        )
