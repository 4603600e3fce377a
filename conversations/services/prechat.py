"""The pre-chat form a merchant configures (name, e-mail, phone, up to five questions of their
own; each optional or required): which fields a visitor is asked, and storing the answers on the
visitor with every field's error at once. Visitors the site identified (a verified
data-user-hash) and visitors who already answered are not asked."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import NotFound
from kefu.text import surrogate_in
from merchants.models import Merchant

from .. import selectors
from ..models import Visitor

CUSTOM_MAX = 5
CUSTOM_LABEL_MAX = 50
ANSWER_MAX = 200
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")
DONE_KEY = selectors.PRECHAT_DONE_KEY  # in Visitor.attributes: when the form was answered


def prechat_fields(merchant: Merchant) -> list[dict]:
    """[{key, label, type, required}] in the request's language; custom questions are keyed
    c1..c5 and keep the merchant's own label."""
    fields = []
    builtin = [
        ("name", _("Your name"), "text", merchant.prechat_name),
        ("email", _("Email"), "email", merchant.prechat_email),
        ("phone", _("Phone"), "tel", merchant.prechat_phone),
    ]
    for key, label, kind, mode in builtin:
        if mode != Merchant.PrechatField.OFF:
            fields.append(
                {"key": key, "label": label, "type": kind, "required": mode == "required"}
            )
    lines = [line.strip() for line in merchant.prechat_custom.splitlines() if line.strip()]
    for number, line in enumerate(lines[:CUSTOM_MAX], 1):
        required = line.endswith("*")
        label = line.rstrip("*").strip()[:CUSTOM_LABEL_MAX]
        if label:
            fields.append(
                {"key": f"c{number}", "label": label, "type": "text", "required": required}
            )
    return fields


def prechat_needed(merchant: Merchant, visitor: Visitor) -> list[dict]:
    """The fields to ask this visitor: none when identified or already answered."""
    if visitor.external_id or (visitor.attributes or {}).get(DONE_KEY):
        return []
    return prechat_fields(merchant)


def _clean(field: dict, raw) -> tuple[str, str | None]:
    """(value, error)"""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        return "", _("Enter text.")
    value = " ".join(raw.split())
    if surrogate_in(value):
        return "", _("Enter text.")
    if not value:
        return "", _("This field is required.") if field["required"] else None
    if len(value) > ANSWER_MAX:
        return "", _("At most %(n)d characters.") % {"n": ANSWER_MAX}
    if field["type"] == "email":
        try:
            validate_email(value)
        except ValidationError:
            return "", _("Enter a valid email address.")
    if field["type"] == "tel" and not (PHONE.match(value) and sum(c.isdigit() for c in value) >= 5):
        return "", _("Enter a valid phone number.")
    return value, None


def visitor_prechat_submit(*, merchant: Merchant, visitor_id: int, values) -> dict[str, str]:
    """Store the answers, or return {field: error} for every bad one and store nothing. Unknown
    keys are errors too (a form of another configuration, or a forged request)."""
    fields = prechat_fields(merchant)
    if not isinstance(values, dict):
        return {"fields": _("Expected an object of answers.")}
    known = {f["key"] for f in fields}
    errors = {key: _("Not a question of this form.") for key in values if key not in known}
    clean = {}
    for field in fields:
        value, error = _clean(field, values.get(field["key"]))
        if error:
            errors[field["key"]] = error
        elif value:
            clean[field["key"]] = value
    if errors:
        return errors
    with transaction.atomic():
        visitor = (
            Visitor.objects.select_for_update()
            .filter(merchant_id=merchant.pk, pk=visitor_id)
            .first()
        )
        if visitor is None:
            raise NotFound("The visitor does not exist any more.")
        attributes = dict(visitor.attributes or {})
        for field in fields:
            if field["key"] in ("name", "email", "phone"):
                if field["key"] in clean:
                    setattr(visitor, field["key"], clean[field["key"]])
            elif field["key"] in clean:
                attributes[field["label"]] = clean[field["key"]]
        attributes[DONE_KEY] = timezone.now().isoformat()
        visitor.attributes = attributes
        visitor.save(update_fields=["name", "email", "phone", "attributes"])
    return {}
