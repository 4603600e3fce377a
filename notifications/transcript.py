"""The transcript of a visitor's own conversation, e-mailed at their request from the widget
(widget/transcript.py checks who asks and how often). Private notes are never part of it."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message

# Longest transcript mailed: the newest messages of a longer conversation, said in the mail.
TRANSCRIPT_MAX_MESSAGES = 500


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
