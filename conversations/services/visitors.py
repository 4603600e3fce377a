"""Visitor writes: the widget's bootstrap finds or creates the visitor, page views build the
trail agents see."""

from __future__ import annotations

import ipaddress

from django.db import transaction
from django.utils import timezone

from kefu.errors import NotFound
from merchants.models import Merchant

from .. import events, realtime
from ..models import Visitor, VisitorPageView


def visitor_touch(
    *,
    merchant: Merchant,
    anonymous_id: str,
    ip: str | None = None,
    user_agent: str = "",
    page_url: str = "",
    page_title: str = "",
    identity: dict | None = None,
) -> Visitor:
    """Find or create the visitor behind a widget and record where they are now.

    `identity` (external_id, name, email, phone) is applied only when the caller has verified the
    merchant's signature over the external id.
    """
    now = timezone.now()
    if ip and merchant.truncate_visitor_ip:
        ip = truncate_ip(ip)
    fields = {
        "last_seen_at": now,
        "ip": ip,
        "user_agent": user_agent[:500],
        "page_url": page_url[:2000],
        "page_title": page_title[:500],
    }
    if identity:
        fields.update({k: v for k, v in identity.items() if v})
    external_id = fields.get("external_id")
    with transaction.atomic():
        # A signed identity seen for the first time on this visitor is the domain event
        # `visitor.identified` (one query more, only for bootstraps that carry an identity).
        identified = bool(external_id) and not (
            Visitor.objects.filter(
                merchant=merchant, anonymous_id=anonymous_id, external_id=external_id
            ).exists()
        )
        visitor, _ = Visitor.objects.update_or_create(
            merchant=merchant, anonymous_id=anonymous_id, defaults=fields
        )
        if identified:
            events.record_event(
                events.Kind.VISITOR_IDENTIFIED,
                merchant_id=merchant.pk,
                visitor_id=visitor.pk,
                data={"by": "widget"},
            )
    return visitor


def truncate_ip(address: str) -> str:
    """The network part only: IPv4 /24, IPv6 /48 (the merchant's truncate_visitor_ip)."""
    ip = ipaddress.ip_address(address)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


PAGE_TRAIL_LIMIT = 100


@transaction.atomic
def visitor_page_view(*, merchant_id: int, visitor_id: int, url: str, title: str) -> Visitor:
    """Record the page the visitor is on now and add it to their trail."""
    try:
        visitor = Visitor.objects.select_for_update().get(merchant_id=merchant_id, pk=visitor_id)
    except Visitor.DoesNotExist:
        raise NotFound("Visitor not found.") from None
    url, title = url[:2000], title[:500]
    if (visitor.page_url, visitor.page_title) == (url, title):
        return visitor
    visitor.page_url, visitor.page_title = url, title
    visitor.last_seen_at = timezone.now()
    visitor.save(update_fields=["page_url", "page_title", "last_seen_at"])
    VisitorPageView.objects.create(merchant_id=merchant_id, visitor=visitor, url=url, title=title)
    # Keep the trail bounded: drop what is older than the newest PAGE_TRAIL_LIMIT rows.
    stale = list(
        VisitorPageView.objects.filter(merchant_id=merchant_id, visitor=visitor)
        .order_by("-viewed_at", "-id")
        .values_list("id", flat=True)[PAGE_TRAIL_LIMIT : PAGE_TRAIL_LIMIT + 50]
    )
    if stale:
        VisitorPageView.objects.filter(pk__in=stale).delete()
    realtime.visitor_updated(visitor, online=True)
    return visitor
