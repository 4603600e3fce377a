"""Visitor writes: the widget's bootstrap finds or creates the visitor (and merges an anonymous
visitor into the customer a signed identity names), page views build the trail agents see."""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from kefu.errors import NotFound
from merchants.models import Merchant

from .. import events, realtime
from ..models import Conversation, ConversationEvent, CustomerNote, Visitor, VisitorPageView


def visitor_touch(
    *,
    merchant: Merchant,
    anonymous_id: str,
    ip: str | None = None,
    user_agent: str = "",
    page_url: str = "",
    page_title: str = "",
    identity: dict | None = None,
    referrer: str = "",
    language: str = "",
) -> Visitor:
    """Find or create the visitor behind a widget and record where they are now.

    `identity` (external_id, name, email, phone) is applied only when the caller has verified the
    merchant's signature over the external id; then the customer is the one visitor with that
    external id, and an anonymous visitor of this browser becomes part of it
    (visitor_identify). `referrer` is kept only when it is another site than the page: it says
    where the visitor came from, not which page of the shop they clicked last.
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
    if language:
        fields["language"] = language[:35]
    if referrer and _host(referrer) and _host(referrer) != _host(page_url):
        fields["referrer"] = referrer[:2000]
    if identity and identity.get("external_id"):
        visitor = visitor_identify(
            merchant_id=merchant.pk, anonymous_id=anonymous_id, fields=fields, identity=identity
        )
    else:
        if identity:
            fields.update({k: v for k, v in identity.items() if v})
        visitor, _ = Visitor.objects.update_or_create(
            merchant=merchant, anonymous_id=anonymous_id, defaults=fields
        )
    _trail_landing(visitor)
    return visitor


def _trail_landing(visitor: Visitor) -> None:
    """The page of a bootstrap joins the trail: the widget's page.view that follows carries the
    same address, which visitor_page_view takes as "no move", so without this the page each
    visit starts on would be missing from the trail."""
    if not visitor.page_url:
        return
    last = (
        VisitorPageView.objects.filter(merchant_id=visitor.merchant_id, visitor=visitor)
        .order_by("-viewed_at", "-id")
        .values_list("url", flat=True)
        .first()
    )
    if last != visitor.page_url:
        VisitorPageView.objects.create(
            merchant_id=visitor.merchant_id,
            visitor=visitor,
            url=visitor.page_url,
            title=visitor.page_title,
        )
        _trail_trim(visitor)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


@transaction.atomic
def visitor_identify(
    *, merchant_id: int, anonymous_id: str, fields: dict, identity: dict
) -> Visitor:
    """The visitor for a signed identity, one customer per external id with one history.

    - The external id is new: this browser's visitor takes it (or a new visitor, when this
      browser's visitor is another customer's: two accounts on one computer stay apart).
    - The external id is known: that visitor is the customer. This browser's anonymous visitor,
      if any, is merged into it (conversations, page trail, notes, events, attributes) and
      deleted, so the browser's anonymous id names nobody once the customer logs out: the next
      anonymous visitor of a shared computer does not see their chats.
    A first identification and a merge record `visitor.identified`.
    """
    external_id = identity["external_id"]
    current = Visitor.objects.filter(merchant_id=merchant_id, anonymous_id=anonymous_id).first()
    known = (
        Visitor.objects.filter(merchant_id=merchant_id, external_id=external_id)
        .order_by("id")
        .first()
    )
    # Both rows locked in id order: two bootstraps of one customer in two tabs take the same
    # locks in the same order, so they queue instead of deadlocking. The visitor send path
    # locks one visitor row, then its conversation: the same order as below.
    ids = sorted({v.pk for v in (current, known) if v is not None})
    locked = {
        v.pk: v for v in Visitor.objects.select_for_update().filter(pk__in=ids).order_by("id")
    }
    current = locked.get(current.pk) if current else None
    known = locked.get(known.pk) if known else None
    details = {k: v for k, v in identity.items() if v and k != "external_id"}
    merged = None
    if known is None:
        if current is not None and current.external_id not in ("", external_id):
            current = None  # another customer's visitor: this one gets a visitor of their own
        if current is None:
            visitor = Visitor.objects.create(
                merchant_id=merchant_id,
                anonymous_id=anonymous_id
                if not Visitor.objects.filter(
                    merchant_id=merchant_id, anonymous_id=anonymous_id
                ).exists()
                else secrets.token_urlsafe(24),
                external_id=external_id,
                **fields,
                **details,
            )
            newly = True
        else:
            visitor, newly = current, current.external_id != external_id
    else:
        visitor, newly = known, False
        if (
            current is not None
            and current.pk != known.pk
            and current.external_id in ("", external_id)
        ):
            merged = _visitor_merge(source=current, into=known)
    for key, value in {**fields, **details, "external_id": external_id}.items():
        setattr(visitor, key, value)
    visitor.save()
    if newly or merged is not None:
        events.record_event(
            events.Kind.VISITOR_IDENTIFIED,
            merchant_id=merchant_id,
            visitor_id=visitor.pk,
            data={
                "by": "widget",
                "merged_visitor_id": merged.pk if merged else None,
                "conversations_moved": merged.moved if merged else 0,
            },
        )
        realtime.visitor_profile_changed(merchant_id, visitor.pk, "identified")
    return visitor


def _visitor_merge(*, source: Visitor, into: Visitor) -> Visitor:
    """Move everything of `source` to `into` and delete `source` (both rows locked by the
    caller). Returns `source` with `.moved` = conversations moved."""
    merchant_id = into.merchant_id
    conversation_ids = list(
        Conversation.objects.filter(merchant_id=merchant_id, visitor=source).values_list(
            "id", flat=True
        )
    )
    Conversation.objects.filter(pk__in=conversation_ids).update(visitor=into)
    VisitorPageView.objects.filter(merchant_id=merchant_id, visitor=source).update(visitor=into)
    CustomerNote.objects.filter(merchant_id=merchant_id, visitor=source).update(visitor=into)
    ConversationEvent.objects.filter(merchant_id=merchant_id, visitor_id=source.pk).update(
        visitor_id=into.pk
    )
    # What the customer's own row says wins; the anonymous row fills its gaps.
    into.attributes = {**(source.attributes or {}), **(into.attributes or {})}
    for key in ("name", "email", "phone", "referrer", "language"):
        if not getattr(into, key) and getattr(source, key):
            setattr(into, key, getattr(source, key))
    into.first_seen_at = min(into.first_seen_at, source.first_seen_at)
    if into.blocked_at is None and source.blocked_at is not None:
        into.blocked_at, into.blocked_by_id = source.blocked_at, source.blocked_by_id
        into.block_reason = source.block_reason
    source_id = source.pk
    source.delete()
    source.pk, source.moved = source_id, len(conversation_ids)
    realtime.visitor_profile_changed(merchant_id, source_id, "identified", merged_into=into.pk)
    for conversation in Conversation.objects.filter(pk__in=conversation_ids).select_related(
        "visitor"
    ):
        realtime.conversation_updated(conversation)
    return source


def truncate_ip(address: str) -> str:
    """The network part only: IPv4 /24, IPv6 /48 (the merchant's truncate_visitor_ip)."""
    ip = ipaddress.ip_address(address)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


PAGE_TRAIL_LIMIT = 100


def _trail_trim(visitor: Visitor) -> None:
    """Keep the trail bounded: drop what is older than the newest PAGE_TRAIL_LIMIT rows."""
    stale = list(
        VisitorPageView.objects.filter(merchant_id=visitor.merchant_id, visitor=visitor)
        .order_by("-viewed_at", "-id")
        .values_list("id", flat=True)[PAGE_TRAIL_LIMIT : PAGE_TRAIL_LIMIT + 50]
    )
    if stale:
        VisitorPageView.objects.filter(pk__in=stale).delete()


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
    _trail_trim(visitor)
    realtime.visitor_updated(visitor, online=True)
    return visitor
