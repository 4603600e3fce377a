"""The e-mailed satisfaction survey: when a chat is resolved and the visitor has left (no open
widget) but we know their e-mail address, they get a signed link that expires, to rate it on
the widget's survey page (widget/survey.py). Started by the `conversation.resolved` event
(conversations/events.py), SURVEY_EMAIL_DELAY seconds later, so a visitor still reading the
chat is asked in the widget instead."""

from __future__ import annotations

from celery import current_app
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from conversations import presence
from conversations.models import Conversation, ConversationEvent
from kefu.text import supported_language
from merchants.models import Merchant

SURVEY_TASK = "notifications.survey_email"
SALT = "kefu.rating-survey"
LINK_MAX_AGE = 7 * 24 * 3600  # a week: later feedback is about a different memory


def survey_token(conversation: Conversation) -> str:
    return signing.dumps(
        {"m": conversation.merchant_id, "c": conversation.pk, "v": conversation.visitor_id},
        salt=SALT,
        compress=True,
    )


def survey_token_read(token: str) -> dict:
    """{"m", "c", "v"} of a link we signed and that is not older than LINK_MAX_AGE; raises
    signing.SignatureExpired / signing.BadSignature otherwise."""
    return signing.loads(token, salt=SALT, max_age=LINK_MAX_AGE)


def survey_email_schedule(*, merchant_id: int, event_id: int, kind: str) -> None:
    """event_recorded receiver: a resolved chat may need its survey mailed, later."""
    if kind != ConversationEvent.Kind.CONVERSATION_RESOLVED:
        return
    conversation_id = (
        ConversationEvent.objects.filter(pk=event_id).values_list("conversation_id", flat=True)
    ).first()
    if conversation_id is None or settings.SURVEY_EMAIL_DELAY < 0:
        return
    current_app.tasks[SURVEY_TASK].apply_async(
        kwargs={"merchant_id": merchant_id, "conversation_id": conversation_id},
        countdown=settings.SURVEY_EMAIL_DELAY,
    )


def survey_email_send(*, merchant_id: int, conversation_id: int) -> bool:
    """Mail the survey link if it is still wanted: the merchant asks for ratings, the chat is
    still resolved and not rated, the visitor has an e-mail address and no open widget."""
    conversation = (
        Conversation.objects.select_related("visitor", "merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if (
        conversation is None
        or conversation.merchant.rating_scale == Merchant.RatingScale.OFF
        or conversation.status != Conversation.Status.RESOLVED
        or conversation.rated_since_resolved
        or not conversation.visitor.email
        or presence.visitors_online(merchant_id, [conversation.visitor_id]).get(
            conversation.visitor_id
        )
    ):
        return False
    link = settings.PUBLIC_URL.rstrip("/") + reverse(
        "widget:survey", args=[survey_token(conversation)]
    )
    context = {"merchant": conversation.merchant, "link": link, "days": LINK_MAX_AGE // 86400}
    # The visitor's language (their widget's), not the site's: the mail is theirs to read.
    with translation.override(supported_language(conversation.visitor.language)):
        subject = translation.gettext("How did %(merchant)s do?") % {
            "merchant": conversation.merchant.name
        }
        text = render_to_string("notifications/email/survey.txt", context)
        html = render_to_string("notifications/email/survey.html", context)
    email = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:150], body=text, to=[conversation.visitor.email]
    )
    email.attach_alternative(html, "text/html")
    email.send()
    return True
