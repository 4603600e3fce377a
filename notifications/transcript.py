"""The transcript of a visitor's own conversation, e-mailed at their request from the widget
(widget/transcript.py checks who asks and how often). Private notes are never part of it."""

from __future__ import annotations

from celery import current_app
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message
from kefu.text import supported_language

# Longest transcript mailed: the newest messages of a longer conversation, said in the mail.
TRANSCRIPT_MAX_MESSAGES = 500
# The Celery task (notifications/tasks.py), queued by name like the app's other mail.
TRANSCRIPT_TASK = "notifications.transcript_email"


def transcript_email_schedule(
    *, merchant_id: int, conversation_id: int, to: str, language: str
) -> None:
    """Queue the mail (the widget's request returns at once; a slow or failing mail server is
    the worker's to retry). `language`: the one the visitor's widget speaks. Raises whatever
    the broker raises when it cannot take the task (the caller says "try later")."""
    current_app.tasks[TRANSCRIPT_TASK].apply_async(
        kwargs={
            "merchant_id": merchant_id,
            "conversation_id": conversation_id,
            "to": to,
            "language": supported_language(language),
        }
    )


def transcript_email_send_in(
    *, merchant_id: int, conversation_id: int, to: str, language: str
) -> int:
    """The task's body: transcript_email_send in the visitor's language."""
    with translation.override(supported_language(language)):
        return transcript_email_send(
            merchant_id=merchant_id, conversation_id=conversation_id, to=to
        )


def transcript_email_send(*, merchant_id: int, conversation_id: int, to: str) -> int:
    """Mail the conversation's visible messages to `to`, in the active language. Returns how
    many messages it held (0: nothing to send, nothing sent)."""
    conversation = (
        Conversation.objects.select_related("merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if conversation is None:
        return 0
    messages = list(
        Message.objects.filter(
            merchant_id=merchant_id, conversation_id=conversation_id, is_private=False
        ).order_by("-seq")[:TRANSCRIPT_MAX_MESSAGES]
    )[::-1]
    if not messages:
        return 0
    merchant = conversation.merchant
    context = {
        "merchant": merchant,
        "messages": messages,
        "cut": conversation.last_seq > len(messages) and len(messages) == TRANSCRIPT_MAX_MESSAGES,
        "visitor_word": _("You"),
    }
    subject = _("Your conversation with %(merchant)s") % {"merchant": merchant.name}
    text = render_to_string("notifications/email/transcript.txt", context)
    html = render_to_string("notifications/email/transcript.html", context)
    email = EmailMultiAlternatives(subject=subject.replace("\n", " ")[:150], body=text, to=[to])
    email.attach_alternative(html, "text/html")
    email.send()
    return len(messages)
