"""Small builders for test data. Each goes through the same services the product uses where
one exists."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets

from conversations import services
from conversations.models import CannedResponse, Visitor
from merchants.models import Membership, Merchant
from merchants.services import api_token_create, membership_add

_seq = itertools.count(1)


def merchant(name: str | None = None, **fields) -> Merchant:
    fields.setdefault("allowed_origins", "http://127.0.0.1\nhttp://localhost")
    return Merchant.objects.create(name=name or f"Merchant {next(_seq)}", **fields)


def member(
    merchant: Merchant, username: str, role: str = Membership.Role.AGENT, **kw
) -> Membership:
    return membership_add(
        merchant=merchant,
        username=username,
        password=kw.pop("password", "pw-" + username),
        role=role,
        display_name=kw.pop("display_name", username.title()),
        **kw,
    )


def visitor(merchant: Merchant, **fields) -> Visitor:
    identity = {k: fields.pop(k) for k in ("name", "email", "phone", "external_id") if k in fields}
    return services.visitor_touch(
        merchant=merchant,
        anonymous_id=fields.pop("anonymous_id", secrets.token_urlsafe(18)),
        identity=identity or None,
        **fields,
    )


def visitor_message(visitor: Visitor, body: str = "你好", client_msg_id: str | None = None):
    message, _ = services.message_send_by_visitor(
        merchant_id=visitor.merchant_id,
        visitor_id=visitor.pk,
        client_msg_id=client_msg_id or secrets.token_hex(8),
        body=body,
    )
    return message


def agent_message(membership: Membership, conversation_id: int, body: str = "您好", **kw):
    message, _ = services.message_send_by_agent(
        merchant_id=membership.merchant_id,
        conversation_id=conversation_id,
        sender=services.Sender.agent(membership),
        client_msg_id=kw.pop("client_msg_id", secrets.token_hex(8)),
        body=body,
        **kw,
    )
    return message


def canned(merchant: Merchant, shortcut: str, text: str, title: str = "") -> CannedResponse:
    """A merchant-wide quick reply, through the service (which fills its pinyin key)."""
    return services.canned_response_create(
        merchant_id=merchant.pk,
        actor=services.CannedActor(user_id=None, is_manager=True),
        shortcut=shortcut,
        title=title,
        text=text,
        personal=False,
    )


def api_token(merchant: Merchant, name: str = "integration", **kw) -> str:
    _, raw = api_token_create(merchant=merchant, name=name, **kw)
    return raw


def signed_identity(merchant: Merchant, user_id: str, **fields) -> dict:
    """The identity a merchant's server signs for its page, every field covered
    (widget.views.identity_message): what data-user-* carry. `attributes` (a dict) travels as
    the JSON text the page holds."""
    from widget.views import identity_message

    identity = {"id": user_id, **fields}
    attributes = identity.pop("attributes", None)
    if attributes is not None:
        identity["attributes_raw"] = json.dumps(attributes, ensure_ascii=False)
    digest = hmac.new(
        merchant.identity_secret.encode(), identity_message(identity).encode(), hashlib.sha256
    )
    return {**identity, "hash": digest.hexdigest()}
