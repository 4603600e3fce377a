"""The visitor side over HTTP: the loader script, the demo host page, the bootstrap call that
turns a widget key plus the browser's anonymous id into a signed visitor token (and tells the
widget whether anybody is available), and the leave-a-message form's endpoint."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
import time

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition, require_GET, require_http_methods
from rest_framework import serializers

from conversations import services
from conversations.attachments import max_bytes_for, refuse_declared_size
from conversations.protocol import PROTOCOL_VERSION, ErrorCode
from conversations.realtime import attachment_upload_out
from conversations.selectors import merchant_availability
from conversations.tokens import visitor_token_issue, visitor_token_verify
from kefu import jsonsafe, ratelimit
from kefu.errors import KefuError, NotFound
from merchants.hours import is_open, next_opening
from merchants.models import Merchant
from merchants.selectors import merchant_get_by_widget_key

from .script import widget_script
from .strings import extra_strings

ANON_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


class IdentitySerializer(serializers.Serializer):
    """A logged-in user of the merchant's site, signed by the merchant's server
    (docs/widget.md, "Signed-in users"): `hash` is hex HMAC-SHA256 with the identity secret
    over identity_message() (every field, optionally an expiry: all trusted), or over the id
    alone (the first form: only the id is trusted, the other fields are ignored)."""

    id = serializers.CharField(max_length=128)
    hash = serializers.CharField(max_length=128)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    # data-user-attributes exactly as the page has it (a JSON object of the merchant's custom
    # attributes, {"plan": "pro"}): the signature covers these bytes, then they are parsed.
    attributes_raw = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    # Unix seconds after which the signature no longer counts (optional).
    expires = serializers.IntegerField(required=False, min_value=0, max_value=2**53)

    def validate_attributes_raw(self, value: str) -> str:
        if not value:
            return value
        try:
            parsed = jsonsafe.loads(value)
        except ValueError:
            raise serializers.ValidationError("Not a JSON object.") from None
        if not isinstance(parsed, dict):
            raise serializers.ValidationError("Not a JSON object.")
        if len(parsed) > 50:
            raise serializers.ValidationError("At most 50 attributes.")
        return value


IDENTITY_V2 = "kefu-identity-v2"


def identity_message(identity: dict) -> str:
    """What the merchant's server signs to vouch for every field: these seven lines, a missing
    field an empty line (docs/widget.md has it in PHP and Python)."""
    expires = identity.get("expires")
    return "\n".join(
        [
            IDENTITY_V2,
            identity["id"],
            identity.get("name", ""),
            identity.get("email", ""),
            identity.get("phone", ""),
            identity.get("attributes_raw", ""),
            "" if expires is None else str(expires),
        ]
    )


def identity_check(merchant: Merchant, identity: dict, *, now: float | None = None) -> str:
    """ "all" (every field signed, not expired), "id" (the id alone signed: the first form),
    "expired" or "invalid"."""
    key = merchant.identity_secret.encode()
    given = identity["hash"].lower()

    def signs(message: str) -> bool:
        return hmac.compare_digest(
            hmac.new(key, message.encode(), hashlib.sha256).hexdigest(), given
        )

    if signs(identity_message(identity)):
        expires = identity.get("expires")
        if expires is not None and expires < (time.time() if now is None else now):
            return "expired"
        return "all"
    if signs(identity["id"]):
        return "id"
    return "invalid"


class BootstrapSerializer(serializers.Serializer):
    anonymous_id = serializers.RegexField(ANON_ID_PATTERN, required=False, allow_blank=True)
    page_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    page_title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    identity = IdentitySerializer(required=False)
    referrer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    language = serializers.CharField(max_length=35, required=False, allow_blank=True)


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
        # Queue, team choice, bot and leave-a-message (the widget has English fallbacks).
        "bot": _("Bot"),
        "handover": _("Talk to a human"),
        "handover_sent": _("Connecting you to an agent…"),
        "queue_ahead": _("Visitors ahead of you: %(ahead)s"),
        "queue_ahead_wait": _("Visitors ahead of you: %(ahead)s, estimated wait %(minutes)s min"),
        "queue_next": _("You are next in line"),
        "team_choose": _("What can we help you with?"),
        "team_required": _("Please choose a topic first."),
        "offline_intro": _(
            "No agent is available right now. Leave a message and we will get back to you."
        ),
        "offline_closed": _(
            "We are closed right now. Leave a message and we will get back to you."
        ),
        "offline_next": _("We are back %(when)s."),
        "offline_name": _("Your name"),
        "offline_contact": _("Phone or email"),
        "offline_message": _("Message"),
        "offline_submit": _("Leave a message"),
        "offline_sending": _("Sending…"),
        "offline_chat": _("Back to the chat"),
        "offline_form": _("Leave a message instead"),
        # The status line (docs/widget.md).
        "status_online": _("We are online: an agent will answer you here."),
        "status_away": _("Our agents are away right now; we will reply as soon as we can."),
        "status_offline": _("No agent is online right now."),
        "status_closed": _("We are closed right now."),
        "status_served": _("An agent is with you."),
        "status_leave": _("Leave us a message"),
        # The character counter near the length limit, and the title flash of a hidden tab.
        "count": _("%(count)s / %(max)s"),
        "count_over": _(
            "%(count)s / %(max)s: %(over)s characters too many. Shorten the message to send it."
        ),
        "title_new": _("New message"),
        # Attachments (docs/attachments.md).
        "attach": _("Attach a file or image"),
        "drop": _("Drop files here to send them"),
        "uploading": _("Uploading…"),
        "upload_failed": _("Upload failed. Tap to retry."),
        "too_large": _("The file is larger than %(mb)s MB."),
        "dismiss": _("Tap to remove."),
        "open_image": _("Open full size"),
        "download": _("Download"),
        # A blocked visitor: neutral, says nothing about being blocked.
        "blocked": _("This chat is closed. Thank you for your visit."),
    }


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def error_response(status: int, code: str, detail: str, **extra) -> JsonResponse:
    """The widget API's error body ({"code", "detail", ...}), shared by its views."""
    return JsonResponse({"code": code, "detail": detail, **extra}, status=status)


def _allow_cors(response, origin: str):
    # CORS is answered here, per merchant, rather than by django-cors-headers: whether an origin
    # may call depends on the widget key, which needs a database read that the (async)
    # middleware cannot do.
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Vary"] = "Origin"
    return response


def _rate_limited(request, merchant: Merchant, endpoint: str) -> JsonResponse | None:
    """429 with Retry-After when this address or this widget key calls too often
    (docs/security.md, "9. Rate limits"); None to go on."""
    address = _client_ip(request) or "unknown"
    checks = [
        (ratelimit.setting("WIDGET_RATE_PER_ADDRESS"), address),
        (ratelimit.setting("WIDGET_RATE_PER_KEY"), merchant.widget_key),
    ]
    if endpoint == "offline":
        checks.append((ratelimit.setting("WIDGET_OFFLINE_RATE_PER_ADDRESS"), address))
    wait = max(ratelimit.hit(limit, key) for limit, key in checks)
    if not wait:
        return None
    response = error_response(
        429, "rate_limited", "Too many requests; try again later.", retry_after=int(wait)
    )
    response["Retry-After"] = str(int(wait))
    return response


def widget_endpoint(view):
    """A cross-origin widget call: the widget key names an active merchant, the Origin must be one
    of its allowed site origins, and the answer carries that merchant's CORS headers."""

    @csrf_exempt  # Cross-origin by design; authenticated by widget key + origin, not cookies.
    @require_http_methods(["POST", "OPTIONS"])
    @functools.wraps(view)
    def wrapper(request):
        merchant = merchant_get_by_widget_key(widget_key=request.GET.get("key", ""))
        if merchant is None:
            return error_response(
                404, "unknown_widget_key", "No active merchant has this widget key."
            )
        origin = request.headers.get("Origin")
        if not merchant.origin_allowed(origin):
            return error_response(
                403,
                "origin_not_allowed",
                f"The origin {origin!r} is not in this merchant's allowed site origins.",
            )
        if request.method == "OPTIONS":
            return _allow_cors(HttpResponse(status=204), origin)
        # After the origin check, so the refusal carries CORS headers the widget can read.
        limited = _rate_limited(request, merchant, view.__name__)
        if limited is not None:
            return _allow_cors(limited, origin)
        return _allow_cors(view(request, merchant), origin)

    return wrapper


@widget_endpoint
def bootstrap(request, merchant: Merchant):
    return _bootstrap(request, merchant)


def _bootstrap(request, merchant: Merchant):
    try:
        payload = jsonsafe.loads(request.body or b"{}")
    except ValueError:
        return error_response(400, "invalid_json", "The body is not valid JSON.")
    serializer = BootstrapSerializer(data=payload if isinstance(payload, dict) else None)
    if not serializer.is_valid():
        return error_response(
            400, "invalid", "Some fields are not valid.", errors=serializer.errors
        )
    data = serializer.validated_data
    identity = data.get("identity")
    identity_fields = None
    signed_attributes = None
    identity_notice = None
    if identity:
        level = identity_check(merchant, identity)
        if level in ("invalid", "expired"):
            return error_response(
                400,
                "identity_invalid",
                "The identity hash has expired."
                if level == "expired"
                else "The identity hash does not match.",
                errors={"identity": ["expired" if level == "expired" else "hash does not match"]},
            )
        identity_fields = {"external_id": identity["id"]}
        if level == "all":
            identity_fields.update(
                name=identity.get("name", ""),
                email=identity.get("email", ""),
                phone=identity.get("phone", ""),
            )
            if identity.get("attributes_raw"):
                signed_attributes = jsonsafe.loads(identity["attributes_raw"])
        elif any(identity.get(k) for k in ("name", "email", "phone", "attributes_raw")):
            # The first form signs the id only: the other fields could be anyone's words.
            identity_notice = "unsigned_fields_ignored"
    anonymous_id = data.get("anonymous_id") or secrets.token_urlsafe(24)
    visitor = services.visitor_touch(
        merchant=merchant,
        anonymous_id=anonymous_id,
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        page_url=data.get("page_url", ""),
        page_title=data.get("page_title", ""),
        identity=identity_fields,
        referrer=data.get("referrer", ""),
        language=data.get("language") or _accept_language(request),
    )
    attribute_errors = {}
    if signed_attributes:
        # A value the merchant's definitions refuse is left out (and reported to the page's
        # console by the loader), not a refused bootstrap: the visitor still gets their chat.
        _visitor, attribute_errors = services.visitor_attributes_set(
            merchant_id=merchant.pk,
            visitor_id=visitor.pk,
            values=signed_attributes,
            strict=False,
        )
    return JsonResponse(
        {
            "protocol": PROTOCOL_VERSION,
            "token": visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk),
            "anonymous_id": anonymous_id,
            "visitor_id": visitor.pk,
            "merchant": {
                "name": merchant.name,
                "welcome_message": merchant.welcome_message,
                "rating_scale": merchant.rating_scale,
            },
            "ws_path": f"/ws/visitor/?key={merchant.widget_key}",
            "max_length": settings.MESSAGE_MAX_LENGTH,
            # What the attach button may offer (the server checks every file again).
            "attachments": {
                "max_mb": max_bytes_for(merchant) >> 20,
                "types": sorted(merchant.attachment_type_set()),
            },
            "strings": widget_strings() | extra_strings(),
            "availability": merchant_availability(merchant=merchant),
            # A blocked visitor's widget shows the chat as closed (strings: "blocked").
            "blocked": visitor.blocked_at is not None,
            **({"attribute_errors": attribute_errors} if attribute_errors else {}),
            **({"identity_notice": identity_notice} if identity_notice else {}),
            "prechat": services.prechat_needed(merchant, visitor),
        }
    )


def _accept_language(request) -> str:
    """The browser's first language, when the widget did not send navigator.language."""
    header = request.headers.get("Accept-Language", "")
    return header.split(",")[0].split(";")[0].strip()[:35]


def _json_body(request):
    """The request's JSON object, or an error response."""
    try:
        payload = jsonsafe.loads(request.body or b"{}")
    except ValueError:
        return None, error_response(400, "invalid_json", "The body is not valid JSON.")
    if not isinstance(payload, dict):
        return None, error_response(
            400,
            "invalid",
            "The body must be a JSON object.",
            errors={"non_field_errors": ["Expected a JSON object."]},
        )
    return payload, None


@require_GET
@cache_control(max_age=300, public=True)
@condition(etag_func=lambda request: widget_script().etag)
def loader(request):
    """The one script merchants embed (widget/script.py). Served from here (no CDN) with a short
    cache, then revalidated by ETag."""
    body = widget_script().body
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def demo(request):
    """A host page to try the widget: it embeds the loader exactly as a merchant site would.
    Only where WIDGET_DEMO_PAGE allows it, and only for the widget key in the URL: it used to
    show the first merchant's widget on a bare /widget/demo/ to anyone."""
    if not settings.WIDGET_DEMO_PAGE:
        raise Http404
    key = request.GET.get("key")
    merchant = merchant_get_by_widget_key(widget_key=key) if key else None
    return render(request, "widget/demo.html", {"merchant": merchant})


# --- Leave a message ----------------------------------------------------------------------------

PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")


class OfflineMessageSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000)
    name = serializers.CharField(max_length=200)
    contact = serializers.CharField(
        max_length=254, help_text="An email address or a phone number to reply to."
    )
    message = serializers.CharField(trim_whitespace=True)
    client_msg_id = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$", required=False)

    def validate_contact(self, value: str) -> dict:
        if "@" in value:
            try:
                EmailValidator()(value)
            except DjangoValidationError:
                raise serializers.ValidationError(_("Enter a valid email address.")) from None
            return {"email": value}
        if PHONE_PATTERN.match(value) and sum(c.isdigit() for c in value) >= 5:
            return {"phone": value}
        raise serializers.ValidationError(_("Give an email address or a phone number."))

    def validate_message(self, value: str) -> str:
        try:
            return services.clean_body(value)
        except KefuError as exc:
            raise serializers.ValidationError(exc.message) from None


def offline_next_steps(merchant: Merchant, contact: str) -> str:
    """What happens now, for the visitor, in their language."""
    text = _(
        "Thank you, your message has reached our team. We will reply to %(contact)s as soon "
        "as we can; replies also appear here in the chat."
    ) % {"contact": contact}
    opening = next_opening(merchant) if not is_open(merchant) else None
    if opening is not None:
        when = date_format(
            opening, "l H:i" if opening - timezone.now() < dt.timedelta(days=6) else "Y-m-d H:i"
        )
        text += " " + _("We are back %(when)s (%(timezone)s time).") % {
            "when": when,
            "timezone": merchant.timezone,
        }
    return text


def visitor_form(request, merchant: Merchant, serializer_class):
    """A widget form post carrying the visitor's token: (validated data, token claims, None),
    or (None, None, the error response: bad JSON or fields 400, a bad token 400 on `token`,
    another merchant's token 403). The one check every widget form makes."""
    payload, error = _json_body(request)
    if error is not None:
        return None, None, error
    serializer = serializer_class(data=payload)
    if not serializer.is_valid():
        return (
            None,
            None,
            error_response(400, "invalid", "Some fields are not valid.", errors=serializer.errors),
        )
    data = serializer.validated_data
    try:
        claims = visitor_token_verify(data["token"])
    except KefuError as exc:
        return (
            None,
            None,
            error_response(400, exc.code, exc.message, errors={"token": [exc.message]}),
        )
    if claims.merchant_id != merchant.pk:
        # A token another merchant's widget issued: nothing of this merchant is touched.
        return (
            None,
            None,
            error_response(403, "merchant_mismatch", "The token belongs to another merchant."),
        )
    return data, claims, None


@widget_endpoint
def offline(request, merchant: Merchant):
    """POST /widget/api/offline?key=KEY {token, name, contact, message}: a message left while
    the merchant is closed or nobody is online. Agents pick it up like any queued chat."""
    if not merchant.offline_form_enabled:
        return error_response(
            403, "offline_form_disabled", "This merchant does not take offline messages."
        )
    data, claims, error = visitor_form(request, merchant, OfflineMessageSerializer)
    if error is not None:
        return error
    try:
        message, created = services.offline_message_create(
            merchant_id=merchant.pk,
            visitor_id=claims.visitor_id,
            name=data["name"],
            body=data["message"],
            client_msg_id=data.get("client_msg_id"),
            **data["contact"],
        )
    except NotFound:
        return error_response(
            404, "not_found", "The visitor does not exist any more: bootstrap again."
        )
    except KefuError as exc:
        if exc.code == ErrorCode.VISITOR_BLOCKED:
            return error_response(403, exc.code, widget_strings()["blocked"])
        if exc.code == ErrorCode.RATE_LIMITED:
            return error_response(
                429,
                exc.code,
                _(
                    "You have left several messages already. We will "
                    "answer them; please try again later."
                ),
            )
        return error_response(400, exc.code, exc.message, errors={"message": [exc.message]})
    contact = next(iter(data["contact"].values()))
    return JsonResponse(
        {
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "detail": offline_next_steps(merchant, contact),
        },
        status=201 if created else 200,
    )


# --- Attachments ----------------------------------------------------------------------------------


class AttachmentUploadSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000)
    upload_id = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$")
    file = serializers.FileField(allow_empty_file=True, use_url=False)


@widget_endpoint
def attachment_upload(request, merchant: Merchant):
    """POST /widget/api/attachments?key=KEY, multipart {token, upload_id, file}: store one image
    or file of the visitor; the widget then sends `message.send` with its `attachment_id`.
    A retried upload_id answers 200 with the stored upload."""
    try:
        refuse_declared_size(request, max_bytes_for(merchant))
    except KefuError as exc:
        return error_response(400, exc.code, exc.message, errors={"file": [exc.message]})
    serializer = AttachmentUploadSerializer(data={**request.POST.dict(), **request.FILES.dict()})
    if not serializer.is_valid():
        return error_response(
            400, "invalid", "Some fields are not valid.", errors=serializer.errors
        )
    data = serializer.validated_data
    try:
        claims = visitor_token_verify(data["token"])
    except KefuError as exc:
        return error_response(400, exc.code, exc.message, errors={"token": [exc.message]})
    if claims.merchant_id != merchant.pk:
        return error_response(403, "merchant_mismatch", "The token belongs to another merchant.")
    try:
        attachment, created = services.attachment_upload(
            merchant_id=merchant.pk,
            uploader_key=f"visitor:{claims.visitor_id}",
            upload_id=data["upload_id"],
            upload=data["file"],
            visitor_id=claims.visitor_id,
        )
    except NotFound:
        return error_response(
            404, "not_found", "The visitor does not exist any more: bootstrap again."
        )
    except KefuError as exc:
        status = 429 if exc.code == ErrorCode.RATE_LIMITED else 400
        return error_response(
            status, exc.code, exc.message, errors={exc.field or "file": [exc.message]}
        )
    return JsonResponse(
        attachment_upload_out(attachment).model_dump(mode="json"), status=201 if created else 200
    )
