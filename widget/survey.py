"""GET/POST /widget/rate/<token>/: the satisfaction survey a visitor who left is mailed
(notifications/survey.py signs the link; it expires). The page is plain HTML on our own origin
with Django's CSRF protection; the rating goes through the same service as the widget's
(conversations.services.rating), with the same rules."""

from __future__ import annotations

from django.core import signing
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conversations import services
from conversations.models import Conversation
from kefu.errors import KefuError
from merchants.models import Merchant
from notifications.survey import survey_token_read


def _choices(scale: str) -> list[tuple[int, str]]:
    if scale == Merchant.RatingScale.THREE:
        return [(5, _("Satisfied")), (3, _("So-so")), (1, _("Dissatisfied"))]
    return [(n, _("%(n)s of 5 stars") % {"n": n}) for n in range(5, 0, -1)]


@require_http_methods(["GET", "POST"])
def survey(request, token: str):
    try:
        claims = survey_token_read(token)
    except signing.SignatureExpired:
        return render(
            request, "widget/survey.html", {"gone": _("This link has expired.")}, status=410
        )
    except signing.BadSignature:
        return render(
            request, "widget/survey.html", {"gone": _("This link is not valid.")}, status=400
        )
    conversation = (
        Conversation.objects.select_related("merchant")
        .filter(merchant_id=claims["m"], pk=claims["c"], visitor_id=claims["v"])
        .first()
    )
    if conversation is None:
        return render(
            request, "widget/survey.html", {"gone": _("This link is not valid.")}, status=404
        )
    merchant = conversation.merchant
    context = {"merchant": merchant, "choices": _choices(merchant.rating_scale)}
    if conversation.rated_since_resolved:
        return render(
            request, "widget/survey.html", {**context, "done": _("Thank you for your feedback!")}
        )
    if request.method == "GET":
        return render(request, "widget/survey.html", context)
    raw = request.POST.get("rating", "")
    comment = request.POST.get("comment", "")
    context.update(comment=comment, chosen=raw)
    rating = int(raw) if raw.isdigit() and len(raw) == 1 else None
    if rating is None:
        context["errors"] = {"rating": _("Please choose a rating first.")}
        return render(request, "widget/survey.html", context, status=400)
    try:
        services.conversation_rate(
            merchant_id=merchant.pk,
            visitor_id=conversation.visitor_id,
            conversation_id=conversation.pk,
            rating=rating,
            comment=comment,
        )
    except KefuError as exc:
        if exc.code == "already_rated":
            return render(
                request,
                "widget/survey.html",
                {**context, "done": _("You have already rated this conversation.")},
            )
        context["errors"] = {exc.field or "rating": exc.message}
        return render(request, "widget/survey.html", context, status=400)
    return render(
        request, "widget/survey.html", {**context, "done": _("Thank you for your feedback!")}
    )
