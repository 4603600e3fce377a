from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # The one place a conversation's recorded facts reach this app: a committed
        # ConversationEvent queues the rollup of the day its conversation started.
        from conversations import signals

        from . import receivers

        signals.event_recorded.connect(
            receivers.event_recorded, dispatch_uid="reports.event_recorded"
        )
