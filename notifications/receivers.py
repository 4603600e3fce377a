"""What this app does when conversations signals (conversations/signals.py). Connected once, in
NotificationsConfig.ready. The signals are sent after commit, so these run outside the sender's
transaction."""

from . import services, survey, tasks  # noqa: F401 - tasks: registered for services' queue-by-name


def attention_needed(
    sender,
    *,
    merchant_id: int,
    conversation_id: int,
    reason: str,
    user_ids: list[int] | None = None,
    **kwargs,
) -> None:
    services.notify_agents(
        merchant_id=merchant_id, conversation_id=conversation_id, reason=reason, user_ids=user_ids
    )


def visitor_reply_posted(sender, *, merchant_id: int, conversation_id: int, **kwargs) -> None:
    services.visitor_reply_email_schedule(merchant_id=merchant_id, conversation_id=conversation_id)


def event_recorded(sender, *, merchant_id: int, event_id: int, kind: str, **kwargs) -> None:
    survey.survey_email_schedule(merchant_id=merchant_id, event_id=event_id, kind=kind)
