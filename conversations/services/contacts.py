"""Visitor (contact) details written through the API: name, email, phone, the merchant's own
user id and custom attributes; and contacts the API creates before they ever chat."""

from __future__ import annotations

import secrets

from django.db import transaction

from kefu.errors import NotFound
from merchants.models import Merchant

from .. import events, realtime
from ..models import Visitor
from .customers import attribute_values_clean

CONTACT_FIELDS = ("name", "email", "phone", "external_id")


@transaction.atomic
def visitor_update(
    *, merchant_id: int, visitor_id: int, attributes: dict | None = None, **changes
) -> Visitor:
    """Change a visitor's contact fields; `attributes` are merged into the custom attributes
    (a key set to None is removed). Setting a new `external_id` records `visitor.identified`."""
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    identified = bool(changes.get("external_id")) and changes["external_id"] != visitor.external_id
    fields = []
    for name in CONTACT_FIELDS:
        if name in changes and getattr(visitor, name) != changes[name]:
            setattr(visitor, name, changes[name])
            fields.append(name)
    if attributes:
        merged = dict(visitor.attributes or {})
        for key, value in attributes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != visitor.attributes:
            visitor.attributes = merged
            fields.append("attributes")
    if not fields:
        return visitor
    visitor.save(update_fields=fields)
    if identified:
        events.record_event(
            events.Kind.VISITOR_IDENTIFIED,
            merchant_id=merchant_id,
            visitor_id=visitor.pk,
            data={"by": "api"},
        )
    realtime.visitor_updated(visitor)
    return visitor


@transaction.atomic
def visitor_create(
    *,
    merchant_id: int,
    external_id: str = "",
    name: str = "",
    email: str = "",
    phone: str = "",
    attributes: dict | None = None,
) -> tuple[Visitor, bool]:
    """A contact the merchant knows before they chat (a CRM, an order system), so the API can
    write to them first. Returns (visitor, created).

    With an `external_id` (the site's user id) it is idempotent: when the merchant already has
    a visitor with that id, that visitor is returned unchanged (created False; PATCH changes
    it). The new visitor has a random anonymous id no browser holds: the customer's widget
    reaches it through a signed identity with the same external id (visitor_identify merges
    the browser's anonymous visitor into it, conversations included). Custom attributes must
    be the merchant's definitions with valid values, else a KefuError and nothing is written.
    """
    clean = {}
    if attributes:
        clean, _errors = attribute_values_clean(merchant_id=merchant_id, values=attributes)
        clean = {key: value for key, value in clean.items() if value is not None}
    if external_id:
        # Two creates of one identity at once would both find none and both insert (external
        # ids have no unique constraint: visitor_identify keeps them one per customer). The
        # merchant's row lock queues them; the second then finds the first's visitor.
        Merchant.objects.select_for_update().filter(pk=merchant_id).values_list(
            "pk", flat=True
        ).get()
        known = (
            Visitor.objects.filter(merchant_id=merchant_id, external_id=external_id)
            .order_by("id")
            .first()
        )
        if known is not None:
            return known, False
    visitor = Visitor.objects.create(
        merchant_id=merchant_id,
        anonymous_id=secrets.token_urlsafe(24),
        external_id=external_id,
        name=name,
        email=email,
        phone=phone,
        attributes=clean,
    )
    if external_id:
        events.record_event(
            events.Kind.VISITOR_IDENTIFIED,
            merchant_id=merchant_id,
            visitor_id=visitor.pk,
            data={"by": "api", "created": True},
        )
    return visitor, True
