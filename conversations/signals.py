"""Signals the conversations services send, each explicitly by the service that makes the
change and *after the transaction commits* (so a receiver reads committed rows and may queue
Celery tasks at once), never from post_save. Each receiver is connected once, in an
AppConfig.ready (docs/architecture.md, "Apps").

attention_needed(sender, *, merchant_id: int, conversation_id: int, reason: str,
                 user_ids: list[int] | None)
    For notifications, above conversations. A conversation needs an agent: `reason` is a
    notifications.models.Notification.Reason value ("new", "queued", "unanswered", "returned",
    "offline"); `user_ids` names the agents concerned, None means everyone on duty. Sent by the
    router (assignment, queue, timeouts) and by offline_message_create. A failing receiver is
    logged and never breaks the commit.

visitor_reply_posted(sender, *, merchant_id: int, conversation_id: int)
    For notifications. An agent, the bot or an API token posted a message the visitor sees,
    and the visitor has an email address (the visitor may be emailed the replies they do not
    read).

event_recorded(sender, *, merchant_id: int, event_id: int, kind: str)
    A ConversationEvent row committed (conversations.events.record_event). For consumers above
    conversations (webhooks, reports): the row is the durable fact, this signal only says
    "look now"; a consumer that missed it finds the row by id later.

visitor_message_stored(sender, *, merchant_id: int, conversation_id: int)
    Sent by services.message_send_by_visitor[_batch] after the commit that stored a visitor
    message needing the post-commit step (the bot turn or the router). Connected in
    ConversationsConfig.ready() to conversations.pipeline, which runs the step: a signal and
    not an import because the step calls the bot and the bot writes through the services.
"""

from django.dispatch import Signal

attention_needed = Signal()
visitor_reply_posted = Signal()
visitor_message_stored = Signal()
event_recorded = Signal()
