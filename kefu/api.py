"""API plumbing shared by every app: errors from services become HTTP errors with field
errors, never a 500; the field types every app's serializers use; the JSON 404; how the OpenAPI
schema describes authentication. Keyset pagination: kefu/pagination.py."""

import datetime

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import KefuError

# Refusals that are not about the input: not allowed (403), or lost to someone else (409).
STATUS_BY_CODE = {
    "forbidden": status.HTTP_403_FORBIDDEN,
    "already_assigned": status.HTTP_409_CONFLICT,
}


def exception_handler(exc, context):
    if isinstance(exc, KefuError):
        if exc.status == 404:
            return Response({"detail": exc.message, "code": exc.code}, status=404)
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body[exc.field] = [exc.message]
        return Response(body, status=STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST))
    return drf_exception_handler(exc, context)


@csrf_exempt  # any method, cookies or not: the answer is a JSON 404, not Django's CSRF page
def not_found(request, *args, **kwargs):
    """JSON 404 for any other path under /api/v1/ (e.g. a non-numeric id), not an HTML page."""
    return JsonResponse({"detail": str(_("Not found.")), "code": "not_found"}, status=404)


# --- Serializer fields ---------------------------------------------------------------------------


class UtcDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC ("...Z"), as pydantic writes datetimes on the socket, rather than in the
    server's TIME_ZONE: one format across the API and the socket."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=datetime.UTC, **kwargs)


class StrictText:
    """DRF's CharField turns 123 into "123"; the socket (pydantic) refuses it, and so do we."""

    default_error_messages = {"invalid": _("Not a valid string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StrictText, serializers.CharField):
    pass


class StrictRegexField(StrictText, serializers.RegexField):
    pass


# --- OpenAPI: how to authenticate ---------------------------------------------------------------


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "merchants.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "kf_...",
            "description": "A per-merchant API token: `Authorization: Bearer kf_...`. "
            "It acts for the merchant that created it.",
        }


class SessionWithMerchantScheme(OpenApiAuthenticationExtension):
    """The workspace's login session, which needs the merchant header as well (both at once)."""

    target_class = "rest_framework.authentication.SessionAuthentication"
    name = ["cookieAuth", "merchantHeader"]
    priority = 1  # replaces drf-spectacular's cookie-only scheme

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME},
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Kefu-Merchant",
                "description": "With a login session: the id of the merchant to act for "
                "(you must be an active member). Writes also need the CSRF token.",
            },
        ]


# --- The refusals every operation may give, in the schema ----------------------------------------

# Every error body: `detail` and, for a service's refusal, `code`; field errors as
# {field: [messages]} beside them (DRF's validation errors are only the latter).
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": True,
}
ERRORS = {
    "400": "Invalid input: field errors ({field: [messages]}), or `code` and `detail`.",
    "401": "No credentials, or an invalid or revoked token.",
    "403": "Not allowed: not a member, a read-only token writing, or a role that may not.",
    "404": "No such object for this merchant (another merchant's objects are not found).",
    "429": "Too many requests; `Retry-After` says when to try again.",
}


def document_refusals(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the refusals any API view
    can give (kefu.api.exception_handler's bodies), unless the view documents its own. A 404
    only where the path names an object, a 400 only where there is input to refuse."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            has_input = bool(operation.get("parameters")) or "requestBody" in operation
            for code, description in ERRORS.items():
                if code in responses or (code == "404" and "{" not in path):
                    continue
                if code == "400" and not has_input:
                    continue
                responses[code] = {"description": description, "content": _error_content()}
            # A refusal a view documents with its own wording only still has the JSON error
            # body (found by schemathesis: the body's content type was undocumented).
            for code, response in responses.items():
                if code[:1] == "4" and not response.get("content"):
                    response["content"] = _error_content()
    return result


def _error_content() -> dict:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
