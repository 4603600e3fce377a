from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self):
        # merchants sits below conversations and cannot call the router: it says, with this
        # signal, that an agent can take more (capacity raised, back from away, reactivated).
        from merchants.signals import capacity_freed

        from . import pipeline, routing, signals

        capacity_freed.connect(
            routing.capacity_freed_received, dispatch_uid="conversations.routing.queue_drain"
        )
        signals.visitor_message_stored.connect(
            pipeline.visitor_message_stored, dispatch_uid="conversations.pipeline"
        )
