"""Signed visitor tokens: the widget bootstrap issues one for (merchant, visitor) and the visitor
socket's first frame presents it. Signed with SECRET_KEY and timestamped, so they cannot be
forged and expire after VISITOR_TOKEN_MAX_AGE seconds."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from kefu.errors import KefuError

from .protocol import ErrorCode

SALT = "kefu.visitor-token"


@dataclass(frozen=True)
class VisitorClaims:
    merchant_id: int
    visitor_id: int


def visitor_token_issue(*, merchant_id: int, visitor_id: int) -> str:
    return signing.dumps({"m": merchant_id, "v": visitor_id}, salt=SALT, compress=True)


def visitor_token_verify(token: str) -> VisitorClaims:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.VISITOR_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise KefuError(ErrorCode.TOKEN_EXPIRED, "The visitor token has expired.") from None
    except signing.BadSignature:
        raise KefuError(ErrorCode.TOKEN_INVALID, "The visitor token is not valid.") from None
    try:
        return VisitorClaims(merchant_id=int(data["m"]), visitor_id=int(data["v"]))
    except (KeyError, TypeError, ValueError):
        raise KefuError(ErrorCode.TOKEN_INVALID, "The visitor token is not valid.") from None
