"""What this app does when conversations signals (connected in WebhooksConfig.ready). Sent after
the commit, so a task queued here finds the event row."""

from merchants.selectors import merchant_webhook_kinds

from . import services, tasks  # noqa: F401 - tasks: registered for services' queue-by-name


def event_recorded(sender, *, merchant_id: int, event_id: int, kind: str, **kwargs) -> None:
    # A snapshot read, no query: a merchant without webhooks costs nothing here. A fan-out
    # missed (stale snapshot, lost task) is made by the sweep.
    if kind in merchant_webhook_kinds(merchant_id=merchant_id):
        services.fanout_soon(merchant_id=merchant_id)
