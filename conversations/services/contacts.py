"""Visitor (contact) details written through the API: name, email, phone, the merchant's own
user id and custom attributes."""

from __future__ import annotations

from django.db import transaction

from kefu.errors import NotFound

from .. import events, realtime
from ..models import Visitor

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
