"""Celery tasks: thin, take ids, re-check state when they run (they may run late or twice)."""

from celery import shared_task

from . import services


@shared_task(name=services.DELIVER_TASK, acks_late=True)
def deliver(*, delivery_id: int) -> str | None:
    """One attempt of a delivery (a claim makes a duplicate run do nothing)."""
    return services.deliver(delivery_id=delivery_id)


@shared_task(name=services.FANOUT_TASK, acks_late=True)
def fanout(*, merchant_id: int) -> int:
    """Turn the merchant's new events into deliveries."""
    return len(services.fanout(merchant_id=merchant_id))


@shared_task(name="webhooks.tasks.sweep")
def sweep() -> dict:
    """Beat, every 30 s: events whose signal was lost, deliveries whose task was lost."""
    return services.sweep()
