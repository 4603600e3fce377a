"""Celery tasks: thin, take ids, re-check state when they run (they may run late or twice)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def visitor_reply_email(*, merchant_id: int, conversation_id: int) -> int:
    """Email a visitor the agent replies they have not read yet. Returns how many were sent."""
    return services.visitor_reply_email_send(
        merchant_id=merchant_id, conversation_id=conversation_id
    )
