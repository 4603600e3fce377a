"""Visitors as customers: the visitor list, labels, custom attribute definitions and the
profile the visitor pane shows (issue 13, docs/desk.md)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from kefu.errors import NotFound

from ..models import (
    AttributeDefinition,
    Conversation,
    CustomerNote,
    Label,
    Visitor,
    VisitorPageView,
)
from .inbox import LABEL_IDS
from .live import VISIT_GAP
from .queue import agent_name


def visitor_list(*, merchant_id: int) -> QuerySet[Visitor]:
    return Visitor.objects.filter(merchant_id=merchant_id).order_by("-last_seen_at", "-id")


def visitor_get(*, merchant_id: int, visitor_id: int) -> Visitor:
    try:
        return Visitor.objects.get(merchant_id=merchant_id, pk=visitor_id)
    except (Visitor.DoesNotExist, ValueError, TypeError):
        raise NotFound("Visitor not found.") from None


PROFILE_TRAIL = 30  # page views shown in the profile
PROFILE_CONVERSATIONS = 20
PROFILE_NOTES = 50


def label_list(*, merchant_id: int) -> QuerySet[Label]:
    return Label.objects.filter(merchant_id=merchant_id).order_by("name", "id")


def label_get(*, merchant_id: int, label_id: int) -> Label:
    try:
        return Label.objects.get(merchant_id=merchant_id, pk=label_id)
    except (Label.DoesNotExist, ValueError, TypeError):
        raise NotFound("Label not found.") from None


def attribute_definition_list(*, merchant_id: int) -> QuerySet[AttributeDefinition]:
    return AttributeDefinition.objects.filter(merchant_id=merchant_id).order_by("name", "id")


def device_summary(user_agent: str) -> dict:
    """Browser, system and form factor read from a User-Agent, enough for an agent ("Chrome on
    Android, phone"); not a full parser: unknown stays ""."""
    ua = user_agent or ""
    browsers = (
        ("MicroMessenger", "WeChat"),
        ("DingTalk", "DingTalk"),
        ("MQQBrowser", "QQ Browser"),
        ("UCBrowser", "UC Browser"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    )
    systems = (
        ("HarmonyOS", "HarmonyOS"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for token, name in browsers if token in ua), "")
    system = next((name for token, name in systems if token in ua), "")
    mobile = any(t in ua for t in ("Mobile", "iPhone", "Android")) and "iPad" not in ua
    form = "tablet" if "iPad" in ua or "Tablet" in ua else "phone" if mobile else "desktop"
    return {"browser": browser, "os": system, "form": form if ua else ""}


def time_on_site_seconds(trail: list[datetime], last_seen: datetime | None) -> int:
    """Length of the current visit: from the first page view of the latest run of page views
    without a VISIT_GAP between them to the last time the visitor was seen. `trail` is newest
    first."""
    if not trail:
        return 0
    start = trail[0]
    for earlier in trail[1:]:
        if start - earlier > VISIT_GAP:
            break
        start = earlier
    end = max(last_seen or trail[0], trail[0])
    return max(0, int((end - start).total_seconds()))


# In Visitor.attributes: when the pre-chat form was answered (services.prechat writes it).
PRECHAT_DONE_KEY = "prechat_at"


def prechat_answers(visitor: Visitor, definition_keys: set[str]) -> dict | None:
    """What the visitor answered in the pre-chat form, or None if they never did. The form's
    own questions are stored in Visitor.attributes under their label (services.prechat);
    the attributes with a definition are the merchant's custom attributes, shown apart."""
    values = visitor.attributes or {}
    answered_at = values.get(PRECHAT_DONE_KEY)
    if not answered_at:
        return None
    answers = [
        {"question": str(key), "answer": str(value)}
        for key, value in values.items()
        if key != PRECHAT_DONE_KEY and key not in definition_keys and value not in (None, "")
    ]
    return {
        "answered_at": answered_at,
        "name": visitor.name,
        "email": visitor.email,
        "phone": visitor.phone,
        "answers": answers,
    }


def visitor_profile(*, merchant_id: int, visitor_id: int) -> dict:
    """Everything the visitor pane shows about a customer, in a fixed number of queries
    (visitor, blocker's name, page trail, conversations, their labels, notes, definitions)."""
    visitor = visitor_get(merchant_id=merchant_id, visitor_id=visitor_id)
    blocked_by = ""
    if visitor.blocked_at is not None and visitor.blocked_by_id is not None:
        blocked_by = agent_name(merchant_id=merchant_id, user_id=visitor.blocked_by_id)
    views = list(
        VisitorPageView.objects.filter(merchant_id=merchant_id, visitor_id=visitor.pk)
        .order_by("-viewed_at", "-id")
        .values("url", "title", "viewed_at")[:100]
    )
    conversations = list(
        Conversation.objects.filter(merchant_id=merchant_id, visitor_id=visitor.pk)
        .prefetch_related(LABEL_IDS)
        .order_by("-id")[:PROFILE_CONVERSATIONS]
    )
    notes = list(
        CustomerNote.objects.filter(merchant_id=merchant_id, visitor_id=visitor.pk).order_by("-id")[
            :PROFILE_NOTES
        ]
    )
    definitions = list(attribute_definition_list(merchant_id=merchant_id))
    values = visitor.attributes or {}
    label_ids = sorted({label.pk for c in conversations for label in c.labels.all()})
    return {
        "id": visitor.pk,
        "name": visitor.display_name,
        "email": visitor.email,
        "phone": visitor.phone,
        "external_id": visitor.external_id,
        "identified": bool(visitor.external_id),
        "first_seen_at": visitor.first_seen_at,
        "last_seen_at": visitor.last_seen_at,
        "page_url": visitor.page_url,
        "page_title": visitor.page_title,
        "referrer": visitor.referrer,
        "language": visitor.language,
        "ip": visitor.ip,
        "device": device_summary(visitor.user_agent),
        "time_on_site_seconds": time_on_site_seconds(
            [v["viewed_at"] for v in views], visitor.last_seen_at
        ),
        "page_views": [
            {"url": v["url"], "title": v["title"], "viewed_at": v["viewed_at"]}
            for v in views[:PROFILE_TRAIL]
        ],
        "page_view_count": len(views),
        "conversations": [
            {
                "id": c.pk,
                "status": c.status,
                "created_at": c.created_at,
                "last_message_at": c.last_message_at,
                "last_message_preview": c.last_message_preview,
                "label_ids": sorted(label.pk for label in c.labels.all()),
            }
            for c in conversations
        ],
        "attributes": [
            {
                "key": d.key,
                "name": d.name,
                "kind": d.kind,
                "choices": d.choices,
                "value": values.get(d.key),
            }
            for d in definitions
        ],
        "notes": [
            {
                "id": n.pk,
                "body": n.body,
                "author_id": n.author_id,
                "author_name": n.author_name,
                "created_at": n.created_at,
            }
            for n in notes
        ],
        "label_ids": label_ids,
        "prechat": prechat_answers(visitor, {d.key for d in definitions}),
        "blocked": visitor.blocked_at is not None,
        "blocked_at": visitor.blocked_at,
        "blocked_by": blocked_by,
        "block_reason": visitor.block_reason,
    }
