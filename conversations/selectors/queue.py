"""Availability and routing reads: who can take a conversation, the queue, the estimated wait.
Read by the router (conversations.routing), the manual actions (services.assignment), the
consumers, the widget and the API. Eligibility itself is defined in docs/routing.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from kefu import localized
from merchants.models import Membership, Team

from .. import presence, protocol, realtime
from ..models import Conversation, RoutingEvent

# --- Availability (widget bootstrap, offline form) --------------------------------------------


def merchant_agents_status(*, merchant_id: int) -> str:
    """The merchant's agents taken together, whatever their load (a full agent still answers
    from the queue): "online" if one is connected and not away, "away" if some are connected
    but all of those are away, "offline" if none is connected. One query plus one presence
    round trip."""
    members = list(
        Membership.objects.filter(
            merchant_id=merchant_id, is_active=True, user__is_active=True
        ).values_list("user_id", "is_away")
    )
    if not members:
        return "offline"
    connected = presence.agents_connected_sync(merchant_id, [user_id for user_id, _ in members])
    statuses = {
        presence.agent_status(connected=connected[user_id], away=away) for user_id, away in members
    }
    return "online" if "online" in statuses else "away" if "away" in statuses else "offline"


def merchant_agents_online(*, merchant_id: int) -> bool:
    """Whether any agent of the merchant is online and not away."""
    return merchant_agents_status(merchant_id=merchant_id) == "online"


def visitor_availability(*, merchant) -> protocol.AvailabilityOut:
    """What the widget's status line shows before an agent takes the chat (docs/widget.md)."""
    from merchants import hours

    is_open = hours.is_open(merchant)
    agents = merchant_agents_status(merchant_id=merchant.pk)
    return protocol.AvailabilityOut(
        open=is_open,
        agents=agents,
        offline_form=merchant.offline_form_enabled and not (is_open and agents == "online"),
        next_opening=None if is_open else hours.next_opening(merchant),
    )


def visitor_availability_for(*, merchant_id: int) -> protocol.AvailabilityOut:
    """visitor_availability for a merchant known by id (the consumers)."""
    from merchants.models import Merchant

    return visitor_availability(merchant=Merchant.objects.get(pk=merchant_id))


def merchant_availability(*, merchant) -> dict:
    """What the widget tells a visitor before they write: visitor_availability, plus
    `agents_online` (older widgets read it) and the teams to choose from. Shape of the
    bootstrap's `availability`."""
    availability = visitor_availability(merchant=merchant).model_dump(mode="json")
    teams = Team.objects.filter(merchant=merchant, is_active=True).order_by("name", "id")
    return {
        **availability,
        "agents_online": availability["agents"] == "online",
        "teams": [{"id": t.pk, "name": t.name} for t in teams.only("id", "name")],
    }


# --- Routing: who can take a conversation, the queue, the estimated wait -------------------------

# Conversations counted against an agent's capacity, and the only ones that can be queued.
ACTIVE = (Conversation.Status.OPEN, Conversation.Status.PENDING)
# Queue order: higher priority first, then longest waiting, then id (stable).
QUEUE_ORDER = ("-priority", "queued_at", "id")
# Agents' `queue.changed` carries the first QUEUE_FRAME_LIMIT entries.
QUEUE_FRAME_LIMIT = 100
# ETA (see seconds_per_slot): throughput window, minimum sample, fallback handling time.
ETA_WINDOW = timedelta(minutes=30)
ETA_MIN_SAMPLE = 3
DEFAULT_HANDLING_SECONDS = 300
ETA_MAX_SECONDS = 24 * 3600


@dataclass
class Candidate:
    """An agent who can take one more conversation, as the router reads them. The router
    updates `open`, `capacity` and `last_assigned_at` under the membership locks."""

    membership_id: int
    user_id: int
    name: str
    capacity: int
    open: int
    last_assigned_at: datetime | None
    team_ids: frozenset

    @property
    def load(self) -> float:
        return self.open / self.capacity if self.capacity else 1.0


def open_counts(*, merchant_id: int, user_ids: list[int]) -> dict[int, int]:
    """Open/pending conversations assigned to each of these agents (absent: none)."""
    if not user_ids:
        return {}
    return dict(
        Conversation.objects.filter(
            merchant_id=merchant_id, assignee_id__in=user_ids, status__in=ACTIVE
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )


def eligible_agents(
    *, merchant_id: int, team_id: int | None = None, exclude: frozenset | set = frozenset()
) -> list[Candidate]:
    """Agents who can take one more conversation now (docs/routing.md, "Who is eligible")."""
    qs = Membership.objects.filter(
        merchant_id=merchant_id,
        is_active=True,
        is_away=False,
        user__is_active=True,
        max_concurrent__gt=0,
    )
    if team_id is not None:
        qs = qs.filter(teams=team_id)
    rows = list(qs.values("id", "user_id", "display_name", "max_concurrent", "last_assigned_at"))
    rows = [r for r in rows if r["user_id"] not in exclude]
    online = presence.agents_connected_sync(merchant_id, [r["user_id"] for r in rows])
    rows = [r for r in rows if online.get(r["user_id"])]
    counts = open_counts(merchant_id=merchant_id, user_ids=[r["user_id"] for r in rows])
    teams: dict[int, set] = {}
    for membership_id, t in Membership.teams.through.objects.filter(
        membership_id__in=[r["id"] for r in rows]
    ).values_list("membership_id", "team_id"):
        teams.setdefault(membership_id, set()).add(t)
    candidates = [
        Candidate(
            membership_id=r["id"],
            user_id=r["user_id"],
            name=r["display_name"],
            capacity=r["max_concurrent"],
            open=counts.get(r["user_id"], 0),
            last_assigned_at=r["last_assigned_at"],
            team_ids=frozenset(teams.get(r["id"], ())),
        )
        for r in rows
    ]
    return [c for c in candidates if c.open < c.capacity]


def online_agent_ids(*, merchant_id: int) -> list[int]:
    """Online agents who are not away, regardless of capacity (to say why a conversation was
    queued)."""
    user_ids = list(
        Membership.objects.filter(
            merchant_id=merchant_id, is_active=True, is_away=False
        ).values_list("user_id", flat=True)
    )
    online = presence.agents_connected_sync(merchant_id, user_ids)
    return [u for u in user_ids if online.get(u)]


def agent_name(*, merchant_id: int, user_id: int) -> str:
    """An agent's display name in this merchant (`#id` when they have no membership)."""
    return (
        Membership.objects.filter(merchant_id=merchant_id, user_id=user_id)
        .values_list("display_name", flat=True)
        .first()
        or f"#{user_id}"
    )


def previous_agent(conversation: Conversation) -> int | None:
    """The agent this visitor talked to last: this conversation's assignee (a reopened one keeps
    it), else the assignee of their latest earlier conversation."""
    if conversation.assignee_id:
        return conversation.assignee_id
    return (
        Conversation.objects.filter(
            merchant_id=conversation.merchant_id,
            visitor_id=conversation.visitor_id,
            assignee__isnull=False,
        )
        .exclude(pk=conversation.pk)
        .order_by("-id")
        .values_list("assignee_id", flat=True)
        .first()
    )


def queued(*, merchant_id: int) -> QuerySet[Conversation]:
    """The merchant's queue, unordered (order_by(*QUEUE_ORDER) for serving order)."""
    return Conversation.objects.filter(
        merchant_id=merchant_id, status__in=ACTIVE, assignee__isnull=True, queued_at__isnull=False
    )


def queue_position(conversation: Conversation) -> int | None:
    """1 = next to be served; None when not queued."""
    if conversation.queued_at is None or conversation.assignee_id is not None:
        return None
    p, q = conversation.priority, conversation.queued_at
    ahead = (
        queued(merchant_id=conversation.merchant_id)
        .filter(
            Q(priority__gt=p)
            | Q(priority=p, queued_at__lt=q)
            | Q(priority=p, queued_at=q, id__lt=conversation.pk)
        )
        .count()
    )
    return ahead + 1


def seconds_per_slot(merchant_id: int) -> float:
    """How many seconds it takes, now, for one queued visitor to be served (the rule is in
    docs/routing.md, "Estimated wait"). The visitor at position p waits about p times this."""
    since = timezone.now() - ETA_WINDOW
    n = RoutingEvent.objects.filter(
        merchant_id=merchant_id,
        kind__in=(RoutingEvent.Kind.ASSIGNED, RoutingEvent.Kind.CLAIMED),
        created_at__gte=since,
    ).count()
    if n >= ETA_MIN_SAMPLE:
        return ETA_WINDOW.total_seconds() / n
    spans = [
        (resolved - assigned).total_seconds()
        for assigned, resolved in Conversation.objects.filter(
            merchant_id=merchant_id, resolved_at__isnull=False, assigned_at__isnull=False
        )
        .order_by("-resolved_at")
        .values_list("assigned_at", "resolved_at")[:100]
        if resolved > assigned
    ]
    handling = sum(spans) / len(spans) if spans else DEFAULT_HANDLING_SECONDS
    slots = sum(c.capacity for c in eligible_agents(merchant_id=merchant_id)) or 1
    return handling / slots


def estimate_wait_seconds(position: int, per_slot: float) -> int:
    return int(min(ETA_MAX_SECONDS, math.ceil(position * per_slot)))


def queue_snapshot(*, merchant_id: int, limit: int = 100) -> tuple[list, int]:
    """(queued conversations in serving order with .queue_position set, total count)."""
    qs = queued(merchant_id=merchant_id)
    rows = list(qs.select_related("visitor").order_by(*QUEUE_ORDER)[:limit])
    for i, conversation in enumerate(rows, 1):
        conversation.queue_position = i
    total = len(rows) if len(rows) < limit else qs.count()
    return rows, total


def queue_frame(*, merchant_id: int) -> protocol.QueueChangedFrame:
    rows, total = queue_snapshot(merchant_id=merchant_id, limit=QUEUE_FRAME_LIMIT)
    return protocol.QueueChangedFrame(
        total=total,
        queue=[
            protocol.QueueEntryOut(
                conversation_id=c.pk,
                position=c.queue_position,
                visitor_name=c.visitor.display_name,
                team_id=c.team_id,
                priority=c.priority,
                queued_at=c.queued_at,
            )
            for c in rows
        ],
    )


def visitor_state(
    *, merchant_id: int, conversation_id: int
) -> protocol.VisitorConversationOut | None:
    """The visitor's view of their conversation with queue position and ETA (None if missing)."""
    conversation = Conversation.objects.filter(merchant_id=merchant_id, pk=conversation_id).first()
    if conversation is None:
        return None
    position = queue_position(conversation)
    if position is not None:
        conversation.queue_position = position
        conversation.estimated_wait_seconds = estimate_wait_seconds(
            position, seconds_per_slot(merchant_id)
        )
    return realtime.visitor_conversation_out(conversation)


def teams_out(*, merchant_id: int) -> list[protocol.TeamOut]:
    teams = list(
        Team.objects.filter(merchant_id=merchant_id, is_active=True).order_by("name", "id")
    )
    members: dict[int, list[int]] = {t.pk: [] for t in teams}
    for team_id, user_id in (
        Membership.teams.through.objects.filter(
            team_id__in=list(members), membership__is_active=True
        )
        .values_list("team_id", "membership__user_id")
        .order_by("membership__user_id")
    ):
        members[team_id].append(user_id)
    return [protocol.TeamOut(id=t.pk, name=t.name, member_ids=members[t.pk]) for t in teams]


def routing_event_out(event, language: str | None = None) -> protocol.RoutingEventOut:
    """`language`: the reason in that language (the REST API passes the request's); without
    it, the stored text (the site language; sockets render theirs, kefu.localized)."""
    spec = event.reason_i18n if language else None
    return protocol.RoutingEventOut(
        id=event.pk,
        conversation_id=event.conversation_id,
        kind=event.kind,
        rule=event.rule,
        reason=localized.render(spec, language, fallback=event.reason) if spec else event.reason,
        from_user_id=event.from_user_id,
        to_user_id=event.to_user_id,
        team_id=event.team_id,
        actor_id=event.actor_id,
        created_at=event.created_at,
    )
