"""POST /widget/api/prechat?key=KEY {token, fields: {key: answer}}: the visitor's answers to the
merchant's pre-chat form (conversations.services.prechat), 400 with every field's error, or 200.
The bootstrap's `prechat` lists the fields to ask (none for identified visitors)."""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework import serializers

from conversations import services
from kefu.errors import NotFound
from merchants.models import Merchant

from .views import error_response, visitor_form, widget_endpoint


class PrechatSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000)
    fields = serializers.DictField(allow_empty=True)


@widget_endpoint
def prechat(request, merchant: Merchant):
    data, claims, error = visitor_form(request, merchant, PrechatSerializer)
    if error is not None:
        return error
    try:
        errors = services.visitor_prechat_submit(
            merchant=merchant, visitor_id=claims.visitor_id, values=data["fields"]
        )
    except NotFound:
        return error_response(
            404, "not_found", "The visitor does not exist any more: bootstrap again."
        )
    if errors:
        return error_response(
            400,
            "invalid",
            "Some answers are not valid.",
            errors={key: [message] for key, message in errors.items()},
        )
    return JsonResponse({"ok": True})
