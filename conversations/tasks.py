"""Celery tasks: thin, take ids, re-check state when they run (they may run late or twice)."""

from celery import shared_task

from . import routing, services
from .services import attachments as attachment_services

# --- Routing (conversations.routing) ------------------------------------------------------------
# The task message carries the assignment's identity (agent + assigned_at), so a firing that
# arrives late, twice, or after a worker restart (acks_late: redelivered) re-checks and does
# nothing unless that very assignment is still unanswered.


@shared_task(acks_late=True)
def routing_accept_timeout(
    *, merchant_id: int, conversation_id: int, user_id: int, assigned_at: str
) -> str:
    return routing.accept_timeout_fire(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        user_id=user_id,
        assigned_at=assigned_at,
    )


@shared_task(acks_late=True)
def routing_auto_resolve() -> int:
    """Beat, every minute: resolve silent conversations (Merchant.auto_resolve_minutes)."""
    return routing.auto_resolve()


@shared_task(acks_late=True)
def snooze_wake() -> int:
    """Beat, every 30 s: wake conversations whose snooze time has come (services.inbox)."""
    return services.snooze_wake_due()


@shared_task(acks_late=True)
def search_index_prune() -> int:
    """Beat, daily: drop search index rows of messages that no longer exist (search.py)."""
    from . import search

    return search.index_prune()


@shared_task(acks_late=True)
def attachments_purge_unsent() -> int:
    """Beat, every hour: uploads never sent in a message (ATTACHMENT_UNSENT_HOURS)."""
    return attachment_services.attachments_purge_unsent()


@shared_task(acks_late=True)
def routing_sweep() -> int:
    """Beat, every minute: drain queues whose capacity freed without an event telling us."""
    return routing.sweep()


@shared_task(acks_late=True)
def retention_sweep() -> dict:
    """Each merchant's retention, in bounded batches (conversations.services.privacy); what a
    run leaves, the next hourly run continues."""
    from .services import privacy

    return {str(k): v for k, v in privacy.retention_sweep().items()}
