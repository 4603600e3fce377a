"""POST /widget/api/transcript?key=KEY {token, email?}: e-mail the visitor the transcript of
their current conversation (never another's; private notes never included), to the address
given or the one we have. At most TRANSCRIPTS_PER_HOUR per visitor: it sends mail to an
address the visitor types, so it must not become a way to send mail to anyone."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.http import JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework import serializers

from conversations import selectors
from merchants.models import Merchant
from notifications.transcript import transcript_email_schedule

from .views import error_response, visitor_form, widget_endpoint

TRANSCRIPTS_PER_HOUR = 3
logger = logging.getLogger(__name__)


class TranscriptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)


def _over_limit(merchant_id: int, visitor_id: int) -> bool:
    key = f"kefu:transcript:{merchant_id}:{visitor_id}"
    cache.add(key, 0, timeout=3600)
    try:
        return cache.incr(key) > TRANSCRIPTS_PER_HOUR
    except ValueError:  # expired between add and incr: a new hour
        cache.set(key, 1, timeout=3600)
        return False


@widget_endpoint
def transcript(request, merchant: Merchant):
    data, claims, error = visitor_form(request, merchant, TranscriptSerializer)
    if error is not None:
        return error
    conversation = selectors.conversation_current_for_visitor(
        merchant_id=merchant.pk, visitor_id=claims.visitor_id
    )
    if conversation is None or conversation.last_seq == 0:
        return error_response(404, "not_found", _("There is no conversation to send yet."))
    to = data.get("email") or conversation.visitor.email
    if not to:
        message = _("Enter the email address to send it to.")
        return error_response(400, "invalid", message, errors={"email": [message]})
    if _over_limit(merchant.pk, claims.visitor_id):
        return error_response(
            429, "rate_limited", _("You have asked for several transcripts already; try later.")
        )
    try:
        transcript_email_schedule(
            merchant_id=merchant.pk,
            conversation_id=conversation.pk,
            to=to,
            language=translation.get_language() or "",
        )
    except Exception:  # the broker (Redis) is down: nothing queued, nothing half-done
        logger.exception("transcript e-mail not queued for conversation %s", conversation.pk)
        return error_response(
            503, "unavailable", _("The transcript cannot be sent right now; try later.")
        )
    return JsonResponse({"detail": _("The transcript is on its way to %(email)s.") % {"email": to}})
