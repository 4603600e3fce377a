from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        # The one place conversations' domain events reach this app (conversations never
        # imports it): the signal says "look now", the rows are the truth (services.fanout).
        from conversations import signals

        from . import receivers

        signals.event_recorded.connect(
            receivers.event_recorded, dispatch_uid="webhooks.event_recorded"
        )
