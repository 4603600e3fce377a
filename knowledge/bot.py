"""The knowledge-base bot. Placeholder until the bot lands: it never takes a conversation."""


def visitor_message_received(*, merchant_id: int, conversation_id: int, message_id: int,
                             started: bool) -> bool:
    """Answer if the bot owns the conversation; True keeps it away from the router."""
    return False
