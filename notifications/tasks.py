"""Celery tasks: thin, take ids, re-check state when they run (they may run late or twice).

The names are explicit and predate this app (the tasks lived in conversations): messages
already queued under them, and the beat schedule, keep working. Services queue them by these
names (notifications.services.ESCALATE_TASK, VISITOR_REPLY_EMAIL_TASK).
"""

from smtplib import SMTPException

from celery import shared_task

from . import services, survey, transcript


@shared_task(name=services.ESCALATE_TASK, acks_late=True)
def escalate(
    *,
    merchant_id: int,
    conversation_id: int,
    reason: str,
    reference: str,
    user_ids: list[int] | None = None,
) -> int:
    """SMS / email after the merchant's delay, if the conversation still needs attention."""
    return services.escalation_send(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        reason=reason,
        reference=reference,
        user_ids=user_ids,
    )


@shared_task(name="conversations.notify.escalate_unanswered")
def escalate_unanswered() -> int:
    """Beat, every 30 s: raise `unanswered` for visitors waiting past their merchant's delay."""
    return services.unanswered_sweep()


@shared_task(name=services.VISITOR_REPLY_EMAIL_TASK, acks_late=True)
def visitor_reply_email(*, merchant_id: int, conversation_id: int) -> int:
    """Email a visitor the agent replies they have not read yet. Returns how many were sent."""
    return services.visitor_reply_email_send(
        merchant_id=merchant_id, conversation_id=conversation_id
    )


@shared_task(name=survey.SURVEY_TASK, acks_late=True)
def survey_email(*, merchant_id: int, conversation_id: int) -> bool:
    """Mail the rating survey link of a resolved chat if it is still wanted."""
    return survey.survey_email_send(merchant_id=merchant_id, conversation_id=conversation_id)


# A mail server that refuses or times out now may take it later: a few tries, backing off
# (about 30 s, 60 s, 120 s, ... with jitter), then the task gives up and logs.
@shared_task(
    name=transcript.TRANSCRIPT_TASK,
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def transcript_email(*, merchant_id: int, conversation_id: int, to: str, language: str) -> int:
    """Mail a visitor the transcript they asked for in the widget (widget/transcript.py)."""
    return transcript.transcript_email_send_in(
        merchant_id=merchant_id, conversation_id=conversation_id, to=to, language=language
    )
