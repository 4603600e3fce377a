"""Signals the conversations services send, explicitly and after the commit (never post_save).

visitor_message_stored(merchant_id: int, conversation_id: int)
    Sent by services.message_send_by_visitor[_batch] after the commit that stored a visitor
    message needing the post-commit step (the bot turn or the router). Connected once, in
    ConversationsConfig.ready(), to conversations.pipeline, which runs the step: a signal and
    not an import because the step calls the bot and the bot writes through the services.
"""

from django.dispatch import Signal

visitor_message_stored = Signal()
