"""Agent notifications and escalation. Placeholder until notifications land; the signature is
the contract the router calls."""


def notify_agents(*, merchant_id: int, conversation_id: int, reason: str,
                  user_ids: list[int] | None = None) -> None:
    """Tell on-duty agents (or `user_ids`) now in the workspace (sound + browser notification),
    and schedule SMS/email escalation after the merchant's delay per agent preference; the
    escalation re-checks whether it is still needed when it fires. `reason` is one of
    Notification.Reason."""
    return None
