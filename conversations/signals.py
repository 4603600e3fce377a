"""Signals conversations sends for apps above it (notifications); conversations imports none of
their receivers. Each is sent explicitly by the service that makes the change, *after the
transaction commits* (so a receiver reads committed rows and may queue Celery tasks at once),
never from post_save. The receivers are connected in the receiving app's AppConfig.ready.

attention_needed(sender, *, merchant_id: int, conversation_id: int, reason: str,
                 user_ids: list[int] | None)
    A conversation needs an agent: `reason` is a notifications.models.Notification.Reason value
    ("new", "queued", "unanswered", "returned", "offline"); `user_ids` names the agents
    concerned, None means everyone on duty. Sent by the router (assignment, queue, timeouts)
    and by offline_message_create. A failing receiver is logged and never breaks the commit.

visitor_reply_posted(sender, *, merchant_id: int, conversation_id: int)
    An agent, the bot or an API token posted a message the visitor sees, and the visitor has
    an email address (the visitor may be emailed the replies they do not read).
"""

from django.dispatch import Signal

attention_needed = Signal()
visitor_reply_posted = Signal()
