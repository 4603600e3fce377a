"""Reads. Every selector takes the merchant as a required keyword and returns rows of that
merchant only, with what the caller will touch already joined."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from kefu import localized
from kefu.errors import NotFound
from merchants.models import Membership, Team

from .. import presence, protocol, realtime, search
from ..models import (
    Attachment,
    AttributeDefinition,
    CannedResponse,
    Conversation,
    CustomerNote,
    Label,
    Message,
    RoutingEvent,
    Visitor,
    VisitorPageView,
)

HISTORY_PAGE = 200
# A conversation's labels as ids only (ConversationOut.label_ids).
LABEL_IDS = Prefetch("labels", queryset=Label.objects.only("id"))


def conversation_list(
    *,
    merchant_id: int,
    status: str | None = None,
    view: str | None = None,
    user_id: int | None = None,
    team_id: int | None = None,
    terms: list[str] | None = None,
    label_id: int | None = None,
) -> QuerySet[Conversation]:
    """The inbox: a view (INBOX_VIEWS), a team, search terms (search.parse_query), each
    optional and combined. Filters live in inbox_filter so a new one (a label) is one line
    there and one field in serializers.ConversationFilterSerializer."""
    # Labels prefetched: one query for the whole page (ConversationOut.label_ids). `label_id`
    # must be one of the merchant's labels (services.labels_resolve checks it).
    qs = (
        Conversation.objects.filter(merchant_id=merchant_id)
        .select_related("visitor")
        .prefetch_related(LABEL_IDS)
    )
    qs = inbox_filter(
        qs,
        merchant_id=merchant_id,
        status=status,
        view=view,
        user_id=user_id,
        team_id=team_id,
        label_id=label_id,
    )
    if terms:
        qs = qs.filter(conversation_search_q(merchant_id=merchant_id, terms=terms))
    return qs.order_by("-last_message_at", "-id")


# --- Inbox views, counts and search (docs/desk.md, "Views and search") -------------------------

# Open and not snoozed: what an agent works on now.
_AWAKE = Q(status__in=("open", "pending"), snoozed_at__isnull=True)
# view -> the conversations it shows; "mine" also needs the agent (user_id).
INBOX_VIEWS = {
    "mine": lambda user_id: _AWAKE & Q(assignee_id=user_id),
    "unassigned": lambda user_id: _AWAKE & Q(assignee__isnull=True, queued_at__isnull=True),
    "queued": lambda user_id: _AWAKE & Q(assignee__isnull=True, queued_at__isnull=False),
    "open": lambda user_id: _AWAKE,
    "snoozed": lambda user_id: Q(status__in=("open", "pending"), snoozed_at__isnull=False),
    "resolved": lambda user_id: Q(status__in=("resolved", "closed")),
}


def inbox_filter(
    qs: QuerySet[Conversation],
    *,
    merchant_id: int,
    status: str | None = None,
    view: str | None = None,
    user_id: int | None = None,
    team_id: int | None = None,
    label_id: int | None = None,
) -> QuerySet[Conversation]:
    """Narrow conversations of `merchant_id` (qs is already scoped to it) by the inbox
    filters. A team of another merchant matches nothing: team ids are compared on rows of this
    merchant only."""
    if status:
        qs = qs.filter(status=status)
    if view:
        qs = qs.filter(INBOX_VIEWS[view](user_id))
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if label_id is not None:
        qs = qs.filter(labels=label_id)
    return qs


def inbox_counts(*, merchant_id: int, user_id: int | None) -> dict:
    """How many conversations each view holds, and the open ones per team and per label: three
    queries. (The "resolved" count is left out: it only grows, and counting it scans the
    merchant's whole history.)"""
    counted = {
        name: Count("id", filter=make(user_id))
        for name, make in INBOX_VIEWS.items()
        if name != "resolved" and (name != "mine" or user_id is not None)
    }
    base = Conversation.objects.filter(merchant_id=merchant_id, status__in=ACTIVE)
    totals = base.aggregate(**counted)
    teams = dict(
        base.filter(snoozed_at__isnull=True, team__isnull=False)
        .values("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
    )
    # The open ones per label (the workspace's label views, views.js): one more query.
    labels = dict(
        base.filter(snoozed_at__isnull=True, labels__isnull=False)
        .values("labels")
        .annotate(n=Count("id"))
        .values_list("labels", "n")
    )
    return {
        **totals,
        "teams": {str(k): v for k, v in teams.items()},
        "labels": {str(k): v for k, v in labels.items()},
    }


def conversation_search_q(*, merchant_id: int, terms: list[str]) -> Q:
    """Conversations whose visitor's name, email, phone or identity id holds every term, or
    that hold a message with every term (among the newest search.CONVERSATION_HITS such
    visitors and messages). Reads the visitors and the message hits (search.message_ids)."""
    who = Q()
    for term in terms:
        who &= (
            Q(name__icontains=term)
            | Q(email__icontains=term)
            | Q(phone__icontains=term)
            | Q(external_id__icontains=term)
        )
    # Read first, not as a subquery: inside an OR it would be evaluated for every row.
    visitors = list(
        Visitor.objects.filter(who, merchant_id=merchant_id)
        .order_by("-pk")
        .values_list("pk", flat=True)[: search.CONVERSATION_HITS]
    )
    hits = search.message_ids(
        merchant_id=merchant_id, terms=terms, before_id=None, limit=search.CONVERSATION_HITS
    )
    return Q(visitor_id__in=visitors) | Q(
        pk__in=Message.objects.filter(merchant_id=merchant_id, pk__in=hits.ids).values(
            "conversation_id"
        )
    )


@dataclass
class MessageHit:
    message: Message
    highlights: list[tuple[int, int]]


def message_search(
    *, merchant_id: int, terms: list[str], before_id: int | None, limit: int
) -> tuple[list[MessageHit], int | None]:
    """The merchant's messages holding every term, newest first, with the ranges to mark; and
    the `before_id` of the next page (None: no more). Queries: the newest messages, the index
    when those neither fill the page nor are the whole history, then the page of messages with
    their conversation and visitor."""
    hits = search.message_ids(
        merchant_id=merchant_id, terms=terms, before_id=before_id, limit=limit
    )
    rows = {
        m.pk: m
        for m in Message.objects.filter(merchant_id=merchant_id, pk__in=hits.ids).select_related(
            "conversation__visitor"
        )
    }
    found = []
    for pk in hits.ids:
        message = rows.get(pk)
        # The index row may be stale (Mroonga keeps rolled-back rows): the body decides.
        if message is not None and search.matches(message.body, terms):
            found.append(MessageHit(message, search.highlights(message.body, terms)))
    return found, hits.ids[-1] if hits.more and hits.ids else None


def conversation_get(
    *, merchant_id: int, conversation_id: int, with_labels: bool = False
) -> Conversation:
    qs = Conversation.objects.select_related("visitor")
    if with_labels:
        qs = qs.prefetch_related(LABEL_IDS)
    try:
        return qs.get(merchant_id=merchant_id, pk=conversation_id)
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise NotFound("Conversation not found.") from None


def conversation_ids_existing(*, merchant_id: int, conversation_ids: list[int]) -> set[int]:
    """The subset of `conversation_ids` that belong to the merchant."""
    return set(
        Conversation.objects.filter(merchant_id=merchant_id, pk__in=conversation_ids).values_list(
            "id", flat=True
        )
    )


def conversation_current_for_visitor(*, merchant_id: int, visitor_id: int) -> Conversation | None:
    """The visitor's newest conversation that is not closed, with its visitor (one query)."""
    return (
        Conversation.objects.filter(merchant_id=merchant_id, visitor_id=visitor_id)
        .exclude(status=Conversation.Status.CLOSED)
        .select_related("visitor")
        .order_by("-id")
        .first()
    )


def message_list(
    *, merchant_id: int, conversation_id: int, include_private: bool = True
) -> QuerySet[Message]:
    # The attachment in the same query: message_out needs it for image and file messages.
    qs = Message.objects.filter(
        merchant_id=merchant_id, conversation_id=conversation_id
    ).select_related("attachment")
    if not include_private:
        qs = qs.filter(is_private=False)
    return qs.order_by("seq")


def message_history_after(
    *,
    merchant_id: int,
    conversation_id: int,
    after_seq: int,
    include_private: bool,
    limit: int = HISTORY_PAGE,
) -> tuple[list[Message], bool]:
    """Messages with seq > after_seq, oldest first, at most `limit`; and whether more follow."""
    rows = list(
        message_list(
            merchant_id=merchant_id,
            conversation_id=conversation_id,
            include_private=include_private,
        ).filter(seq__gt=after_seq)[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def attachment_get(*, merchant_id: int, attachment_id: int) -> Attachment | None:
    return Attachment.objects.filter(merchant_id=merchant_id, pk=attachment_id).first()


def visitor_list(*, merchant_id: int) -> QuerySet[Visitor]:
    return Visitor.objects.filter(merchant_id=merchant_id).order_by("-last_seen_at", "-id")


def visitor_get(*, merchant_id: int, visitor_id: int) -> Visitor:
    try:
        return Visitor.objects.get(merchant_id=merchant_id, pk=visitor_id)
    except (Visitor.DoesNotExist, ValueError, TypeError):
        raise NotFound("Visitor not found.") from None


# --- Visitors now and the supervisor screen (issue 13; docs/desk.md) ---------------------------

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


def canned_response_get(*, merchant_id: int, user_id: int | None, pk: int) -> CannedResponse:
    """One reply the user may see (shared, or their own); NotFound otherwise."""
    row = canned_response_list(merchant_id=merchant_id, user_id=user_id).filter(pk=pk).first()
    if row is None:
        raise NotFound("Quick reply not found.")
    return row


def canned_response_list(
    *, merchant_id: int, user_id: int | None = None
) -> QuerySet[CannedResponse]:
    """Merchant-wide replies plus `user_id`'s own (None: an API token, shared ones only),
    most used first."""
    mine = Q(owner__isnull=True) | Q(owner_id=user_id) if user_id else Q(owner__isnull=True)
    return CannedResponse.objects.filter(mine, merchant_id=merchant_id).order_by(
        "-usage_count", "shortcut", "id"
    )


def routing_event_list(*, merchant_id: int, conversation_id: int) -> QuerySet:
    """A conversation's routing decisions, oldest first (the `routing_timeline` index)."""
    return RoutingEvent.objects.filter(
        merchant_id=merchant_id, conversation_id=conversation_id
    ).order_by("id")


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
# Read by the router (conversations.routing), the manual actions (services.assignment), the
# consumers and the API. Eligibility itself is defined in docs/routing.md.

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


# --- Customers: labels, profiles (issue 13, docs/desk.md) ----------------------------------------

PROFILE_TRAIL = 30  # page views shown in the profile
PROFILE_CONVERSATIONS = 20
PROFILE_NOTES = 50
# A gap longer than this between two page views starts a new visit (time on site).
VISIT_GAP = timedelta(minutes=30)


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
