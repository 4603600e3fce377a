from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self):
        # merchants sits below conversations and cannot call the router: it says, with this
        # signal, that an agent can take more (capacity raised, back from away, reactivated).
        from merchants.signals import access_revoked, capacity_freed

        from . import pipeline, realtime, routing, signals

        capacity_freed.connect(
            routing.capacity_freed_received, dispatch_uid="conversations.routing.queue_drain"
        )
        # ... and, with this one, that a user may no longer work for a merchant: their open
        # workspace sockets close (docs/security.md, finding 2).
        access_revoked.connect(
            realtime.access_revoked_received, dispatch_uid="conversations.realtime.access_revoked"
        )
        signals.visitor_message_stored.connect(
            pipeline.visitor_message_stored, dispatch_uid="conversations.pipeline"
        )
        # An attachment's files go when its row goes, by whatever path (services.attachments).
        from django.db.models.signals import post_delete

        from .models import Attachment
        from .services.attachments import attachment_deleted

        post_delete.connect(
            attachment_deleted, sender=Attachment, dispatch_uid="conversations.attachment_files"
        )
