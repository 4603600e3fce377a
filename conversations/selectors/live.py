"""Visitors now and the supervisor screen (issue 13; docs/desk.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, F
from django.utils import timezone

from merchants.models import Membership

from .. import presence, protocol, realtime
from ..models import Conversation, Visitor, VisitorPageView
from .queue import ACTIVE

# A gap this long between two page views starts a new visit (the usual web-analytics rule).
VISIT_GAP = timedelta(minutes=30)
LIVE_VISITORS_MAX = 200


def visitors_live_rows(
    *, merchant_id: int, visitor_ids: list[int] | set[int]
) -> list[protocol.LiveVisitorOut]:
    """The "Visitors now" rows of these (online) visitors, most recently active first: three
    queries whatever their number (visitors, the last day's page views, ongoing
    conversations). The visit is read from the page trail, so it survives a server restart
    and counts the pages of every tab."""
    if not visitor_ids:
        return []
    visitors = list(
        Visitor.objects.filter(merchant_id=merchant_id, pk__in=list(visitor_ids)).order_by(
            "-last_seen_at", "-id"
        )[:LIVE_VISITORS_MAX]
    )
    ids = [v.pk for v in visitors]
    now = timezone.now()
    trails: dict[int, list[datetime]] = {}
    for visitor_id, at in (
        VisitorPageView.objects.filter(
            merchant_id=merchant_id, visitor_id__in=ids, viewed_at__gte=now - timedelta(days=1)
        )
        .order_by("visitor_id", "-viewed_at", "-id")
        .values_list("visitor_id", "viewed_at")
    ):
        trails.setdefault(visitor_id, []).append(at)
    chats = {
        c["visitor_id"]: c
        for c in Conversation.objects.filter(
            merchant_id=merchant_id, visitor_id__in=ids, status__in=ACTIVE
        )
        .order_by("id")
        .values("visitor_id", "id", "assignee_id")
    }
    rows = []
    for v in visitors:
        start, pages = v.last_seen_at, 1
        trail = trails.get(v.pk)
        if trail:
            # Newest first: walk back while the gaps stay under VISIT_GAP.
            start, pages = trail[0], 1
            for at in trail[1:]:
                if start - at >= VISIT_GAP:
                    break
                start, pages = at, pages + 1
        chat = chats.get(v.pk)
        rows.append(
            protocol.LiveVisitorOut(
                id=v.pk,
                name=v.display_name,
                page_url=v.page_url,
                page_title=v.page_title,
                pages_seen=pages,
                visit_started_at=start,
                # Seen before this visit began (a minute of slack: the first page view and the
                # visitor row are written by one bootstrap, a few milliseconds apart).
                returning=v.first_seen_at < start - timedelta(minutes=1),
                blocked=v.blocked_at is not None,
                conversation_id=chat["id"] if chat else None,
                assignee_id=chat["assignee_id"] if chat else None,
            )
        )
    return rows


def supervisor_snapshot(
    *, merchant_id: int, connected: dict[int, bool]
) -> protocol.SupervisorSnapshotOutFrame:
    """Each active agent's status and load, and the live conversations (three queries).
    `connected`: presence.agents_connected for the merchant's agents."""
    memberships = list(
        Membership.objects.filter(merchant_id=merchant_id, is_active=True).order_by(
            "display_name", "user_id"
        )
    )
    loads = dict(
        Conversation.objects.filter(
            merchant_id=merchant_id, status__in=ACTIVE, assignee_id__isnull=False
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    conversations = list(
        Conversation.objects.filter(merchant_id=merchant_id, status__in=ACTIVE)
        .select_related("visitor")
        .order_by(F("last_message_at").desc(nulls_last=True), "-id")[:LIVE_VISITORS_MAX]
    )
    return protocol.SupervisorSnapshotOutFrame(
        agents=[
            protocol.AgentLoadOut(
                user_id=m.user_id,
                name=m.display_name,
                role=m.role,
                status=presence.agent_status(
                    connected=connected.get(m.user_id, False), away=m.is_away
                ),
                open_count=loads.get(m.user_id, 0),
                capacity=m.max_concurrent,
            )
            for m in memberships
        ],
        conversations=[realtime.conversation_out(c) for c in conversations],
    )
