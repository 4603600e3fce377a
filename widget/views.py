"""The visitor side over HTTP: the loader script, the demo host page, and the bootstrap call
that turns a widget key plus the browser's anonymous id into a signed visitor token."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework import serializers

from conversations import services
from conversations.protocol import PROTOCOL_VERSION
from conversations.tokens import visitor_token_issue
from merchants.models import Merchant
from merchants.selectors import merchant_get_by_widget_key

ANON_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


class IdentitySerializer(serializers.Serializer):
    """A logged-in user of the merchant's site, signed by the merchant's server:
    hash = hex(HMAC-SHA256(identity_secret, id))."""

    id = serializers.CharField(max_length=128)
    hash = serializers.CharField(max_length=128)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class BootstrapSerializer(serializers.Serializer):
    anonymous_id = serializers.RegexField(ANON_ID_PATTERN, required=False, allow_blank=True)
    page_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    page_title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    identity = IdentitySerializer(required=False)


def widget_strings() -> dict[str, str]:
    """The widget's UI text in the request's language (it has no translation machinery)."""
    return {
        "title": _("Chat with us"),
        "placeholder": _("Type a message…"),
        "send": _("Send"),
        "open": _("Open chat"),
        "close": _("Close chat"),
        "connecting": _("Connecting…"),
        "reconnecting": _("Reconnecting…"),
        "offline": _("Offline: messages will be sent when the connection is back."),
        "failed": _("Not sent. Tap to retry."),
        "agent": _("Agent"),
        "you": _("You"),
        "error": _("Something went wrong."),
        "typing": _("Agent is typing…"),
        "read": _("Read"),
    }


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _identity_verified(merchant: Merchant, identity: dict) -> bool:
    expected = hmac.new(
        merchant.identity_secret.encode(), identity["id"].encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, identity["hash"].lower())


def _error(status: int, code: str, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, **extra}, status=status)


def _allow_cors(response, origin: str):
    # CORS is answered here, per merchant, rather than by django-cors-headers: whether an origin
    # may call depends on the widget key, which needs a database read that the (async)
    # middleware cannot do.
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


@csrf_exempt  # Cross-origin by design; authenticated by widget key + origin, not cookies.
@require_http_methods(["POST", "OPTIONS"])
def bootstrap(request):
    merchant = merchant_get_by_widget_key(widget_key=request.GET.get("key", ""))
    if merchant is None:
        return _error(404, "unknown_widget_key", "No active merchant has this widget key.")
    origin = request.headers.get("Origin")
    if not merchant.origin_allowed(origin):
        return _error(
            403, "origin_not_allowed",
            f"The origin {origin!r} is not in this merchant's allowed site origins.",
        )
    if request.method == "OPTIONS":
        return _allow_cors(HttpResponse(status=204), origin)
    return _allow_cors(_bootstrap(request, merchant), origin)


def _bootstrap(request, merchant: Merchant):
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return _error(400, "invalid_json", "The body is not valid JSON.")
    serializer = BootstrapSerializer(data=payload if isinstance(payload, dict) else None)
    if not serializer.is_valid():
        return _error(400, "invalid", "Some fields are not valid.", errors=serializer.errors)
    data = serializer.validated_data
    identity = data.get("identity")
    identity_fields = None
    if identity:
        if not _identity_verified(merchant, identity):
            return _error(400, "identity_invalid", "The identity hash does not match.",
                          errors={"identity": ["hash does not match"]})
        identity_fields = {
            "external_id": identity["id"], "name": identity.get("name", ""),
            "email": identity.get("email", ""), "phone": identity.get("phone", ""),
        }
    anonymous_id = data.get("anonymous_id") or secrets.token_urlsafe(24)
    visitor = services.visitor_touch(
        merchant=merchant,
        anonymous_id=anonymous_id,
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        page_url=data.get("page_url", ""),
        page_title=data.get("page_title", ""),
        identity=identity_fields,
    )
    return JsonResponse(
        {
            "protocol": PROTOCOL_VERSION,
            "token": visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk),
            "anonymous_id": anonymous_id,
            "visitor_id": visitor.pk,
            "merchant": {"name": merchant.name, "welcome_message": merchant.welcome_message},
            "ws_path": f"/ws/visitor/?key={merchant.widget_key}",
            "max_length": settings.MESSAGE_MAX_LENGTH,
            "strings": widget_strings(),
        }
    )


@require_GET
@cache_control(max_age=300, public=True)
def loader(request):
    """The one script merchants embed. Served from here (no CDN) with a short cache."""
    path = finders.find("widget/loader.js")
    with open(path, "rb") as fh:
        body = fh.read()
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def demo(request):
    """A host page to try the widget: it embeds the loader exactly as a merchant site would."""
    key = request.GET.get("key")
    merchant = (
        merchant_get_by_widget_key(widget_key=key) if key
        else Merchant.objects.filter(is_active=True).order_by("id").first()
    )
    return render(request, "widget/demo.html", {"merchant": merchant})
