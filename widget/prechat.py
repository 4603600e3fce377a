"""POST /widget/api/prechat?key=KEY {token, fields: {key: answer}}: the visitor's answers to the
merchant's pre-chat form (conversations.services.prechat), 400 with every field's error, or 200.
The bootstrap's `prechat` lists the fields to ask (none for identified visitors)."""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework import serializers

from conversations import services
from conversations.tokens import visitor_token_verify
from kefu.errors import KefuError, NotFound
from merchants.models import Merchant

from .views import _error, _json_body, widget_endpoint


class PrechatSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000)
    fields = serializers.DictField(allow_empty=True)


@widget_endpoint
def prechat(request, merchant: Merchant):
    payload, error = _json_body(request)
    if error is not None:
        return error
    serializer = PrechatSerializer(data=payload)
    if not serializer.is_valid():
        return _error(400, "invalid", "Some fields are not valid.", errors=serializer.errors)
    data = serializer.validated_data
    try:
        claims = visitor_token_verify(data["token"])
    except KefuError as exc:
        return _error(400, exc.code, exc.message, errors={"token": [exc.message]})
    if claims.merchant_id != merchant.pk:
        return _error(403, "merchant_mismatch", "The token belongs to another merchant.")
    try:
        errors = services.visitor_prechat_submit(
            merchant=merchant, visitor_id=claims.visitor_id, values=data["fields"]
        )
    except NotFound:
        return _error(404, "not_found", "The visitor does not exist any more: bootstrap again.")
    if errors:
        return _error(
            400,
            "invalid",
            "Some answers are not valid.",
            errors={key: [message] for key, message in errors.items()},
        )
    return JsonResponse({"ok": True})
