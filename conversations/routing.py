"""Routing: who gets a conversation, the queue, acceptance timeouts, claim, transfer, resolve.

Every decision writes a RoutingEvent with a machine-readable `rule` and a human `reason` rendered
in the merchant's language, and is published to the merchant's agents after the commit
(`routing.event` + `conversation.updated`); queued visitors get `conversation.state` with their
position and estimated wait whenever the queue moves, agents get `queue.changed`.

Eligible agent: active membership of an active user, not "away", in the conversation's team if it
has one, with a live agent socket (conversations.presence) and fewer open/pending assigned
conversations than `max_concurrent`. Manual actions (claim, transfer to a named agent) are a
person's decision and may go past the capacity; only the router respects it strictly.

Locks and their order (no cycle, so no deadlock):
- message_send_by_visitor: visitor row, then conversation row.
- message_send_by_agent (which may claim): conversation row, then the membership row.
- the router: conversation row, then its candidates' membership rows, in one statement in
  primary-key order (so two routers trying agents in different orders cannot deadlock).
Nothing locks a membership and then a conversation. The membership locks serialise every
automatic assignment to one agent, so two routers cannot both fill that agent's last slot: the
open count is re-read under the lock (MySQL runs at READ COMMITTED, see settings, so the re-read
sees the other router's committed assignment). The conversation lock makes two claims of one
conversation queue up: the second sees the first's assignee and gets ALREADY_ASSIGNED.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import wraps

from asgiref.sync import async_to_sync

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from kefu.errors import KefuError, NotFound
from kefu.transactions import on_commit_robust
from merchants.models import Membership, Merchant, Team

from . import presence, protocol, realtime
from .models import Conversation, Message, RoutingEvent

logger = logging.getLogger(__name__)

ACTIVE = (Conversation.Status.OPEN, Conversation.Status.PENDING)
# Queue order: higher priority first, then longest waiting, then id (stable).
QUEUE_ORDER = ("-priority", "queued_at", "id")
# How many queued visitors get live position updates per change (the rest get them when they
# move up into this window); agents' `queue.changed` carries the first QUEUE_FRAME_LIMIT.
LIVE_POSITIONS = 1000
QUEUE_FRAME_LIMIT = 100
# ETA (see estimate_wait_seconds): throughput window, minimum sample, fallback handling time.
ETA_WINDOW = timedelta(minutes=30)
ETA_MIN_SAMPLE = 3
DEFAULT_HANDLING_SECONDS = 300
ETA_MAX_SECONDS = 24 * 3600
# The beat sweep fires an acceptance timeout whose task never ran this long after it was due.
SWEEP_GRACE_SECONDS = 30

Kind = RoutingEvent.Kind

# Reasons, as message ids: rendered in the merchant's language when the decision is made.
R_STICKY = gettext_noop("sticky: previous agent %(agent)s online")
R_LEAST_BUSY = gettext_noop("least-busy: %(agent)s has %(open)s/%(capacity)s open")
R_ROUND_ROBIN = gettext_noop("round-robin: %(agent)s waited longest for a conversation")
R_QUEUED_NOBODY = gettext_noop("queued: no agent online")
R_QUEUED_FULL = gettext_noop("queued: every online agent is at capacity")
R_QUEUE_ASSIGNED = gettext_noop("from the queue after %(seconds)s s: %(choice)s")
R_TIMEOUT_MOVED = gettext_noop("timeout after %(seconds)s s, moved from %(from)s to %(to)s")
R_TIMEOUT_QUEUED = gettext_noop(
    "timeout after %(seconds)s s, no other agent available for %(from)s's conversation: queued")
R_TIMEOUT_RETURNED = gettext_noop(
    "timeout after %(seconds)s s (%(moves)s moves): back to the head of the queue")
R_CLAIMED = gettext_noop("claimed by %(agent)s")
R_CLAIMED_REPLY = gettext_noop("claimed by %(agent)s by replying")
R_TRANSFERRED = gettext_noop("transferred from %(from)s to %(to)s by %(actor)s")
R_TRANSFERRED_TEAM = gettext_noop("transferred to team %(team)s by %(actor)s")
R_RESOLVED = gettext_noop("resolved by %(actor)s")
R_AUTO_RESOLVED = gettext_noop("auto-resolved after %(minutes)s min of silence")
R_REOPENED = gettext_noop("reopened by %(actor)s")
R_REOPENED_VISITOR = gettext_noop("reopened: the visitor wrote again")
R_NOBODY = gettext_noop("nobody")


@contextmanager
def _one_hop():
    """Collect every event a routing action publishes after its commits and send them all in
    one hop to the event loop (realtime.deferred_publishes), instead of one async_to_sync per
    event: a queue change alone is a `conversation.state` per waiting visitor, and in a Celery
    worker each hop is a fresh event loop with a fresh Redis connection. Inside an outer
    collection (a consumer's batch) the events simply join it."""
    if getattr(realtime._deferred, "events", None) is not None:
        yield
        return
    try:
        with realtime.deferred_publishes() as events:
            yield
    finally:
        # Sent even when the action failed after some commit: what committed is published.
        if events:
            async_to_sync(realtime.apublish_events)(events)


def _publishing(fn):
    """Decorator for the public entry points (their transactions commit inside)."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        with _one_hop():
            return fn(*args, **kwargs)
    return wrapper


def _say(msgid: str, **params) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        text = translation.gettext(msgid)
        return (text % params if params else text)[:300]


# --- Reads ---------------------------------------------------------------------------------------


@dataclass
class Candidate:
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


def _open_counts(merchant_id: int, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    return dict(
        Conversation.objects.filter(
            merchant_id=merchant_id, assignee_id__in=user_ids, status__in=ACTIVE
        ).values("assignee_id").annotate(n=Count("id")).values_list("assignee_id", "n")
    )


def eligible_agents(*, merchant_id: int, team_id: int | None = None,
                    exclude: frozenset | set = frozenset()) -> list[Candidate]:
    """Agents who can take one more conversation now (see the module docstring)."""
    qs = Membership.objects.filter(
        merchant_id=merchant_id, is_active=True, is_away=False, user__is_active=True,
        max_concurrent__gt=0,
    )
    if team_id is not None:
        qs = qs.filter(teams=team_id)
    rows = list(qs.values("id", "user_id", "display_name", "max_concurrent", "last_assigned_at"))
    rows = [r for r in rows if r["user_id"] not in exclude]
    online = presence.agents_connected_sync(merchant_id, [r["user_id"] for r in rows])
    rows = [r for r in rows if online.get(r["user_id"])]
    counts = _open_counts(merchant_id, [r["user_id"] for r in rows])
    teams: dict[int, set] = {}
    for membership_id, t in Membership.teams.through.objects.filter(
        membership_id__in=[r["id"] for r in rows]
    ).values_list("membership_id", "team_id"):
        teams.setdefault(membership_id, set()).add(t)
    candidates = [
        Candidate(
            membership_id=r["id"], user_id=r["user_id"], name=r["display_name"],
            capacity=r["max_concurrent"], open=counts.get(r["user_id"], 0),
            last_assigned_at=r["last_assigned_at"], team_ids=frozenset(teams.get(r["id"], ())),
        )
        for r in rows
    ]
    return [c for c in candidates if c.open < c.capacity]


def _queued(merchant_id: int):
    return Conversation.objects.filter(
        merchant_id=merchant_id, status__in=ACTIVE, assignee__isnull=True, queued_at__isnull=False
    )


def queue_position(conversation: Conversation) -> int | None:
    """1 = next to be served; None when not queued."""
    if conversation.queued_at is None or conversation.assignee_id is not None:
        return None
    p, q = conversation.priority, conversation.queued_at
    ahead = _queued(conversation.merchant_id).filter(
        Q(priority__gt=p) | Q(priority=p, queued_at__lt=q) | Q(priority=p, queued_at=q,
                                                                id__lt=conversation.pk)
    ).count()
    return ahead + 1


def seconds_per_slot(merchant_id: int) -> float:
    """How many seconds it takes, now, for one queued visitor to be served.

    From throughput when there is enough of it: N conversations were assigned or claimed in the
    last 30 minutes, so a place in the queue moves every 1800 / N seconds. Otherwise from the
    average handling time (assignment to resolution over the last 100 resolved conversations,
    5 minutes when there are none) divided by the open slots of the agents online now: each slot
    frees once per handling time. The visitor at position p waits about p times this.
    """
    since = timezone.now() - ETA_WINDOW
    n = RoutingEvent.objects.filter(
        merchant_id=merchant_id, kind__in=(Kind.ASSIGNED, Kind.CLAIMED), created_at__gte=since
    ).count()
    if n >= ETA_MIN_SAMPLE:
        return ETA_WINDOW.total_seconds() / n
    spans = [
        (resolved - assigned).total_seconds()
        for assigned, resolved in Conversation.objects.filter(
            merchant_id=merchant_id, resolved_at__isnull=False, assigned_at__isnull=False
        ).order_by("-resolved_at").values_list("assigned_at", "resolved_at")[:100]
        if resolved > assigned
    ]
    handling = sum(spans) / len(spans) if spans else DEFAULT_HANDLING_SECONDS
    slots = sum(c.capacity for c in eligible_agents(merchant_id=merchant_id)) or 1
    return handling / slots


def estimate_wait_seconds(position: int, per_slot: float) -> int:
    return int(min(ETA_MAX_SECONDS, math.ceil(position * per_slot)))


def queue_snapshot(*, merchant_id: int, limit: int = 100) -> tuple[list, int]:
    """(queued conversations in serving order with .queue_position set, total count)."""
    qs = _queued(merchant_id)
    rows = list(qs.select_related("visitor").order_by(*QUEUE_ORDER)[:limit])
    for i, conversation in enumerate(rows, 1):
        conversation.queue_position = i
    total = len(rows) if len(rows) < limit else qs.count()
    return rows, total


def queue_frame(*, merchant_id: int) -> protocol.QueueChangedFrame:
    rows, total = queue_snapshot(merchant_id=merchant_id, limit=QUEUE_FRAME_LIMIT)
    return protocol.QueueChangedFrame(total=total, queue=[
        protocol.QueueEntryOut(
            conversation_id=c.pk, position=c.queue_position, visitor_name=c.visitor.display_name,
            team_id=c.team_id, priority=c.priority, queued_at=c.queued_at,
        ) for c in rows
    ])


def visitor_state(*, merchant_id: int, conversation_id: int) -> protocol.VisitorConversationOut | None:
    """The visitor's view of their conversation with queue position and ETA (None if missing)."""
    conversation = Conversation.objects.filter(merchant_id=merchant_id, pk=conversation_id).first()
    if conversation is None:
        return None
    position = queue_position(conversation)
    if position is not None:
        conversation.queue_position = position
        conversation.estimated_wait_seconds = estimate_wait_seconds(
            position, seconds_per_slot(merchant_id))
    return realtime.visitor_conversation_out(conversation)


def teams_out(*, merchant_id: int) -> list[protocol.TeamOut]:
    teams = list(Team.objects.filter(merchant_id=merchant_id, is_active=True).order_by("name", "id"))
    members: dict[int, list[int]] = {t.pk: [] for t in teams}
    for team_id, user_id in Membership.teams.through.objects.filter(
        team_id__in=list(members), membership__is_active=True
    ).values_list("team_id", "membership__user_id").order_by("membership__user_id"):
        members[team_id].append(user_id)
    return [protocol.TeamOut(id=t.pk, name=t.name, member_ids=members[t.pk]) for t in teams]


def _name(merchant_id: int, user_id: int | None) -> str:
    if user_id is None:
        return _say(R_NOBODY)
    return Membership.objects.filter(merchant_id=merchant_id, user_id=user_id).values_list(
        "display_name", flat=True).first() or f"#{user_id}"


def _previous_agent(conversation: Conversation) -> int | None:
    """The agent this visitor talked to last: this conversation's assignee (a reopened one keeps
    it), else the assignee of their latest earlier conversation."""
    if conversation.assignee_id:
        return conversation.assignee_id
    return (
        Conversation.objects.filter(
            merchant_id=conversation.merchant_id, visitor_id=conversation.visitor_id,
            assignee__isnull=False,
        ).exclude(pk=conversation.pk).order_by("-id").values_list("assignee_id", flat=True).first()
    )


# --- Publishing ----------------------------------------------------------------------------------


def _event(conversation: Conversation, kind: str, rule: str, reason: str, *, detail=None,
           from_user=None, to_user=None, team_id=None, actor=None) -> RoutingEvent:
    event = RoutingEvent.objects.create(
        merchant_id=conversation.merchant_id, conversation=conversation, kind=kind, rule=rule,
        reason=reason, detail=detail or {}, from_user_id=from_user, to_user_id=to_user,
        team_id=team_id, actor_id=actor,
    )
    realtime.publish_on_commit(realtime.agents_group(conversation.merchant_id),
                               protocol.RoutingEventFrame(event=routing_event_out(event)))
    return event


def routing_event_out(event: RoutingEvent) -> protocol.RoutingEventOut:
    return protocol.RoutingEventOut(
        id=event.pk, conversation_id=event.conversation_id, kind=event.kind, rule=event.rule,
        reason=event.reason, from_user_id=event.from_user_id, to_user_id=event.to_user_id,
        team_id=event.team_id, actor_id=event.actor_id, created_at=event.created_at,
    )


def _changed(conversation: Conversation, *, queue_moved: bool, from_position: int = 1) -> None:
    """After commit: agents get the new inbox row; if the queue moved, agents get the queue and
    everyone in it their new position. (The visitor hears only of what they see: their place in
    the queue, status and bot, through _tell_visitor / publish_queue.)"""
    realtime.conversation_updated(conversation)
    if queue_moved:
        on_commit_robust(publish_queue, conversation.merchant_id, from_position)


def publish_queue(merchant_id: int, from_position: int = 1) -> None:
    """Send agents `queue.changed` and the queued visitors from `from_position` on (up to
    LIVE_POSITIONS) their position and ETA; those ahead of a change keep their place. Runs after
    commit, outside any transaction."""
    realtime.publish_on_commit(realtime.agents_group(merchant_id), queue_frame(merchant_id=merchant_id))
    start = max(from_position, 1) - 1
    rows = list(_queued(merchant_id).order_by(*QUEUE_ORDER)[start:LIVE_POSITIONS])
    per_slot = seconds_per_slot(merchant_id) if rows else 0.0
    for position, conversation in enumerate(rows, start + 1):
        conversation.queue_position = position
        conversation.estimated_wait_seconds = estimate_wait_seconds(position, per_slot)
        realtime.publish_on_commit(
            realtime.visitor_group(conversation.visitor_id),
            protocol.VisitorConversationStateFrame(
                conversation=realtime.visitor_conversation_out(conversation)),
        )


def _tell_visitor(conversation: Conversation) -> None:
    """The visitor's state changed (left the queue: position null; resolved; reopened; the bot
    handed over): all their tabs get `conversation.state` after the commit."""
    if conversation.queued_at is not None and getattr(conversation, "queue_position", None) is None:
        # Still queued: carry the place in the queue, or this frame (sent after publish_queue's)
        # would blank the position the visitor was just told.
        position = queue_position(conversation)
        if position is not None:
            conversation.queue_position = position
            conversation.estimated_wait_seconds = estimate_wait_seconds(
                position, seconds_per_slot(conversation.merchant_id))
    realtime.publish_on_commit(
        realtime.visitor_group(conversation.visitor_id),
        protocol.VisitorConversationStateFrame(
            conversation=realtime.visitor_conversation_out(conversation)),
    )


def _notify(merchant_id: int, conversation_id: int, reason: str,
            user_ids: list[int] | None = None) -> None:
    from . import notify

    on_commit_robust(notify.notify_agents, merchant_id=merchant_id, conversation_id=conversation_id,
                  reason=reason, user_ids=user_ids)


def _schedule_timeout(conversation: Conversation, seconds: int) -> None:
    if seconds <= 0:
        return
    from .tasks import routing_accept_timeout

    kwargs = {
        "merchant_id": conversation.merchant_id, "conversation_id": conversation.pk,
        "user_id": conversation.assignee_id, "assigned_at": conversation.assigned_at.isoformat(),
    }

    def send():
        try:
            routing_accept_timeout.apply_async(kwargs=kwargs, countdown=seconds)
        except Exception:
            # The beat sweep (routing_sweep) catches missed timeouts; routing must not fail.
            logger.exception("could not schedule the acceptance timeout of %s", kwargs)

    transaction.on_commit(send)


# --- The router ----------------------------------------------------------------------------------


def _lock(merchant_id: int, conversation_id: int) -> Conversation:
    from .services import _lock_conversation

    return _lock_conversation(merchant_id, conversation_id)


def _order(candidates: list[Candidate], method: str) -> list[Candidate]:
    epoch = datetime.min.replace(tzinfo=dt_timezone.utc)
    if method == Merchant.RoutingMethod.ROUND_ROBIN:
        return sorted(candidates, key=lambda c: (c.last_assigned_at or epoch, c.user_id))
    return sorted(candidates, key=lambda c: (c.load, c.last_assigned_at or epoch, c.user_id))


def _route(conversation: Conversation, *, merchant: Merchant, exclude=frozenset(),
           candidates: list[Candidate] | None = None, sticky: bool = True,
           previous: int | None = None):
    """Pick and take an agent for a locked conversation. (candidate, rule, reason) or None."""
    team = conversation.team if conversation.team_id else None
    team_id = team.pk if team is not None and team.is_active else None
    if candidates is None:
        candidates = eligible_agents(merchant_id=merchant.pk, team_id=team_id, exclude=exclude)
    else:
        candidates = [c for c in candidates if c.user_id not in exclude
                      and (team_id is None or team_id in c.team_ids) and c.open < c.capacity]
    if not candidates:
        return None
    method = (team.routing_method if team is not None and team.routing_method
              else merchant.routing_method)
    if not (sticky and merchant.sticky_agent):
        previous = None
    elif previous is None:
        previous = _previous_agent(conversation)
    now = timezone.now()
    # Lock every candidate's membership in one statement, in primary-key order: routers that
    # try several agents then never hold one agent while waiting for another in the opposite
    # order (a deadlock). Counts re-read under the locks include other routers' commits.
    locked = {m.pk: m for m in Membership.objects.select_for_update().filter(
        pk__in=[c.membership_id for c in candidates], is_active=True, is_away=False,
    ).order_by("pk")}
    counts = _open_counts(merchant.pk, [m.user_id for m in locked.values()])
    fresh = []
    for candidate in candidates:
        membership = locked.get(candidate.membership_id)
        if membership is not None:
            candidate.open = counts.get(membership.user_id, 0)
            candidate.capacity = membership.max_concurrent
            candidate.last_assigned_at = membership.last_assigned_at
            if candidate.open < candidate.capacity:
                fresh.append(candidate)
    if not fresh:
        return None
    ordered = _order(fresh, method)
    ordered.sort(key=lambda c: c.user_id != previous)  # stable: the sticky agent goes first
    candidate = ordered[0]
    open_before = candidate.open
    Membership.objects.filter(pk=candidate.membership_id).update(last_assigned_at=now)
    candidate.open, candidate.last_assigned_at = open_before + 1, now
    if candidate.user_id == previous:
        rule, reason = "sticky", _say(R_STICKY, agent=candidate.name)
    elif method == Merchant.RoutingMethod.ROUND_ROBIN:
        rule, reason = "round_robin", _say(R_ROUND_ROBIN, agent=candidate.name)
    else:
        rule, reason = "least_busy", _say(
            R_LEAST_BUSY, agent=candidate.name, open=open_before, capacity=candidate.capacity)
    return candidate, rule, reason, now


def _assign(conversation: Conversation, candidate: Candidate, now) -> None:
    conversation.assignee_id = candidate.user_id
    conversation.assigned_at = now
    conversation.queued_at = None
    conversation.save(update_fields=["assignee", "assigned_at", "queued_at", "routing_attempts"])


def _enqueue(conversation: Conversation, *, head: bool = False) -> None:
    """Put an unassigned conversation in the queue (at the head: before everyone of its
    priority), unless it is there already."""
    conversation.assignee_id = None
    conversation.assigned_at = None
    if head:
        first = _queued(conversation.merchant_id).exclude(pk=conversation.pk).order_by(
            "queued_at").values_list("queued_at", flat=True).first()
        now = timezone.now()
        conversation.queued_at = min(first, now) - timedelta(seconds=1) if first else now
    elif conversation.queued_at is None:
        conversation.queued_at = timezone.now()
    conversation.save(update_fields=["assignee", "assigned_at", "queued_at", "routing_attempts"])


def _route_or_queue(conversation: Conversation, *, kind: str = Kind.ASSIGNED, actor=None,
                    exclude=frozenset(), sticky: bool = True, notify_reason: str = "new",
                    previous: int | None = None) -> bool:
    """Route a locked, unassigned conversation; queue it when nobody can take it. True when
    assigned."""
    merchant = Merchant.objects.get(pk=conversation.merchant_id)
    was_queued = conversation.queued_at is not None
    picked = _route(conversation, merchant=merchant, exclude=exclude, sticky=sticky,
                    previous=previous)
    if picked is None:
        online_any = bool(_online_agents(merchant.pk))
        _enqueue(conversation)
        if not was_queued:
            _event(conversation, Kind.QUEUED, "queue",
                   _say(R_QUEUED_FULL if online_any else R_QUEUED_NOBODY), actor=actor,
                   team_id=conversation.team_id)
            _notify(merchant.pk, conversation.pk, "queued")
        # Joining the queue moves only those behind it (a higher priority jumps ahead).
        _changed(conversation, queue_moved=True, from_position=queue_position(conversation) or 1)
        return False
    candidate, rule, reason, now = picked
    _assign(conversation, candidate, now)
    _event(conversation, kind, rule, reason, to_user=candidate.user_id, actor=actor,
           team_id=conversation.team_id,
           detail={"open": candidate.open - 1, "capacity": candidate.capacity})
    _schedule_timeout(conversation, merchant.accept_timeout_seconds)
    _notify(merchant.pk, conversation.pk, notify_reason, [candidate.user_id])
    _changed(conversation, queue_moved=was_queued)
    if was_queued:
        _tell_visitor(conversation)
    return True


def _online_agents(merchant_id: int) -> list[int]:
    """Online agents regardless of capacity (to say why a conversation was queued)."""
    user_ids = list(Membership.objects.filter(
        merchant_id=merchant_id, is_active=True, is_away=False).values_list("user_id", flat=True))
    online = presence.agents_connected_sync(merchant_id, user_ids)
    return [u for u in user_ids if online.get(u)]


@_publishing
def visitor_message_received(*, merchant_id: int, conversation_id: int, message_id: int,
                             started: bool, reopened: bool) -> None:
    """After a visitor message committed in a conversation the bot does not own: assign,
    queue or leave it (already assigned or queued), record why."""
    with transaction.atomic():
        try:
            conversation = _lock(merchant_id, conversation_id)
        except NotFound:
            return
        if conversation.status not in ACTIVE or conversation.bot_active:
            return
        previous = None
        if reopened:
            previous = conversation.assignee_id
            _event(conversation, Kind.REOPENED, "visitor", _say(R_REOPENED_VISITOR),
                   from_user=previous)
            # Route again; sticky brings the visitor back to `previous` if they can take it.
            conversation.assignee_id = None
            conversation.routing_attempts = 0
        elif conversation.assignee_id is not None or conversation.queued_at is not None:
            return
        _route_or_queue(conversation, previous=previous)


@_publishing
@transaction.atomic
def conversation_handover(*, merchant_id: int, conversation_id: int, reason: str,
                          reason_text: str, detail: dict | None = None) -> None:
    """The bot steps aside (conversations.bot.conversation_handover, which owns the reasons):
    clear bot_active, record a HANDOVER routing event with the bot's `reason` code and its
    rendered `reason_text`, then route like a new conversation."""
    try:
        conversation = _lock(merchant_id, conversation_id)
    except NotFound:
        return
    if not conversation.bot_active and conversation.handed_over_at is not None:
        return  # already handed over (a double click, a retried task)
    conversation.bot_active = False
    conversation.handed_over_at = timezone.now()
    conversation.save(update_fields=["bot_active", "handed_over_at"])
    _event(conversation, Kind.HANDOVER, "handover", reason_text[:300],
           detail={"reason": reason, **(detail or {})})
    if conversation.status in ACTIVE and conversation.assignee_id is None \
            and conversation.queued_at is None:
        _route_or_queue(conversation)
    else:
        _changed(conversation, queue_moved=False)
    _tell_visitor(conversation)


# --- Queue drain -----------------------------------------------------------------------------------


@_publishing
def queue_drain(*, merchant_id: int, limit: int = 500) -> int:
    """Assign queued conversations oldest-first (priority first) while capacity allows; returns
    how many were assigned. Called when capacity frees or an agent comes online.

    Eligible agents are read once; a conversation whose team has nobody free is skipped (the
    ones behind it may be for another team). Each assignment is its own short transaction that
    locks the conversation and re-checks it is still queued, so two drains, or a drain and a
    claim, never assign one conversation twice.
    """
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None or not _queued(merchant_id).exists():
        return 0  # the common case when an agent connects: nobody waiting
    candidates = eligible_agents(merchant_id=merchant_id)
    assigned = 0
    if candidates:
        queued = list(_queued(merchant_id).order_by(*QUEUE_ORDER).values_list("id", "team_id")[:limit])
        active_teams = set(Team.objects.filter(merchant_id=merchant_id, is_active=True)
                           .values_list("id", flat=True))
        for conversation_id, team_id in queued:
            free = [c for c in candidates if c.open < c.capacity]
            if not free:
                break
            if team_id in active_teams and not any(team_id in c.team_ids for c in free):
                continue
            if _drain_one(merchant, conversation_id, free):
                assigned += 1
    if assigned:
        publish_queue(merchant_id)
    return assigned


def _drain_one(merchant: Merchant, conversation_id: int, candidates: list[Candidate]) -> bool:
    with transaction.atomic():
        conversation = _lock(merchant.pk, conversation_id)
        if (conversation.status not in ACTIVE or conversation.assignee_id is not None
                or conversation.queued_at is None):
            return False  # claimed, resolved or drained by someone else meanwhile
        picked = _route(conversation, merchant=merchant, candidates=candidates)
        if picked is None:
            return False
        candidate, rule, reason, now = picked
        waited = int((now - conversation.queued_at).total_seconds())
        _assign(conversation, candidate, now)
        _event(conversation, Kind.ASSIGNED, rule,
               _say(R_QUEUE_ASSIGNED, seconds=max(waited, 0), choice=reason),
               to_user=candidate.user_id, team_id=conversation.team_id,
               detail={"open": candidate.open - 1, "capacity": candidate.capacity,
                       "waited_seconds": waited, "from_queue": True})
        _schedule_timeout(conversation, merchant.accept_timeout_seconds)
        _notify(merchant.pk, conversation.pk, "new", [candidate.user_id])
        realtime.conversation_updated(conversation)
        _tell_visitor(conversation)
        return True


def queue_drain_on_commit(merchant_id: int) -> None:
    on_commit_robust(queue_drain, merchant_id=merchant_id)


# --- Manual actions ------------------------------------------------------------------------------


def _membership(merchant_id: int, user_id: int | None) -> Membership | None:
    if user_id is None:
        return None
    return Membership.objects.filter(
        merchant_id=merchant_id, user_id=user_id, is_active=True, user__is_active=True
    ).first()


def claim_locked(conversation: Conversation, *, membership: Membership, rule: str = "claim") -> None:
    """Give a locked, unassigned conversation to `membership`'s agent (a claim or a reply)."""
    was_queued = conversation.queued_at is not None
    position = queue_position(conversation) if was_queued else None
    now = timezone.now()
    conversation.assignee_id = membership.user_id
    conversation.assigned_at = now
    conversation.queued_at = None
    conversation.routing_attempts = 0
    conversation.save(update_fields=["assignee", "assigned_at", "queued_at", "routing_attempts"])
    Membership.objects.filter(pk=membership.pk).update(last_assigned_at=now)
    reason = _say(R_CLAIMED_REPLY if rule == "reply" else R_CLAIMED, agent=membership.display_name)
    _event(conversation, Kind.CLAIMED, rule, reason, to_user=membership.user_id,
           actor=membership.user_id, team_id=conversation.team_id)
    if was_queued:
        _tell_visitor(conversation)
        on_commit_robust(publish_queue, conversation.merchant_id, position or 1)


@_publishing
def conversation_claim(*, merchant_id: int, conversation_id: int, user_id: int) -> Conversation:
    """An agent takes a queued or unassigned conversation; the loser of a race gets
    ALREADY_ASSIGNED."""
    with transaction.atomic():
        membership = _membership(merchant_id, user_id)
        if membership is None:
            raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
        # The row lock makes a second claimer wait here, then see the first one's assignee.
        conversation = _lock(merchant_id, conversation_id)
        if conversation.status not in ACTIVE:
            raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED,
                            "The conversation is resolved or closed.")
        if conversation.assignee_id == user_id:
            return conversation
        if conversation.assignee_id is not None:
            raise KefuError(protocol.ErrorCode.ALREADY_ASSIGNED,
                            "Someone else already has this conversation.")
        claim_locked(conversation, membership=membership)
        realtime.conversation_updated(conversation)
    return conversation


@_publishing
def conversation_transfer(*, merchant_id: int, conversation_id: int, actor_user_id: int,
                          to_user_id: int | None = None, to_team_id: int | None = None,
                          note: str = "") -> Conversation:
    """Hand over to an agent or to a team's routing, with an optional note (private). Agents
    transfer their own conversations; owners and admins any (a reassignment)."""
    from .services import Sender, _append

    if (to_user_id is None) == (to_team_id is None):
        raise KefuError(protocol.ErrorCode.INVALID_FRAME, "Give either to_user_id or to_team_id.",
                        field="to_user_id")
    with transaction.atomic():
        actor = _membership(merchant_id, actor_user_id)
        if actor is None:
            raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
        conversation = _lock(merchant_id, conversation_id)
        if conversation.status == Conversation.Status.CLOSED:
            raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
        if conversation.assignee_id != actor.user_id and not actor.is_manager:
            raise KefuError(protocol.ErrorCode.FORBIDDEN,
                            "Only owners and admins can reassign someone else's conversation.")
        previous = conversation.assignee_id
        kind = Kind.TRANSFERRED if previous == actor.user_id else Kind.REASSIGNED
        note = (note or "").strip()
        if note:
            _append(conversation=conversation, sender=Sender.agent(actor), body=note[:1000],
                    client_msg_id=None, private=True)
        if to_user_id is not None:
            target = _membership(merchant_id, to_user_id)
            if target is None:
                raise KefuError(protocol.ErrorCode.AGENT_UNAVAILABLE,
                                "That agent cannot take conversations here.", field="to_user_id")
            was_queued = conversation.queued_at is not None
            conversation.assignee_id = target.user_id
            conversation.assigned_at = timezone.now()
            conversation.queued_at = None
            conversation.routing_attempts = 0
            conversation.save(update_fields=["assignee", "assigned_at", "queued_at",
                                             "routing_attempts"])
            Membership.objects.filter(pk=target.pk).update(last_assigned_at=conversation.assigned_at)
            _event(conversation, kind, "transfer", _say(
                R_TRANSFERRED, **{"from": _name(merchant_id, previous), "to": target.display_name,
                                  "actor": actor.display_name}),
                from_user=previous, to_user=target.user_id, actor=actor.user_id,
                detail={"note": bool(note)})
            if target.user_id != actor.user_id:
                _notify(merchant_id, conversation.pk, "new", [target.user_id])
            _changed(conversation, queue_moved=was_queued)
            if was_queued:
                _tell_visitor(conversation)
        else:
            team = Team.objects.filter(merchant_id=merchant_id, pk=to_team_id, is_active=True).first()
            if team is None:
                raise KefuError(protocol.ErrorCode.AGENT_UNAVAILABLE, "No such team.",
                                field="to_team_id")
            conversation.team = team
            conversation.save(update_fields=["team"])
            _event(conversation, kind, "transfer_team", _say(
                R_TRANSFERRED_TEAM, team=team.name, actor=actor.display_name),
                from_user=previous, team_id=team.pk, actor=actor.user_id,
                detail={"note": bool(note)})
            conversation.assignee_id = None
            conversation.routing_attempts = 0
            if conversation.status in ACTIVE:
                # The team's routing decides; the agents handing it on are not candidates.
                _route_or_queue(conversation, exclude=frozenset({previous, actor.user_id}),
                                sticky=False, actor=actor.user_id)
            else:
                conversation.save(update_fields=["assignee", "routing_attempts"])
                _changed(conversation, queue_moved=False)
        if previous is not None:
            # The previous agent has a free slot now.
            queue_drain_on_commit(merchant_id)
    return conversation


@_publishing
def conversation_set_status(*, merchant_id: int, conversation_id: int,
                            actor_user_id: int | None, status: str) -> Conversation:
    """Resolve (frees capacity, drains the queue) or reopen (routes again, sticky)."""
    if status not in (Conversation.Status.OPEN, Conversation.Status.RESOLVED):
        raise KefuError(protocol.ErrorCode.INVALID_FRAME, "Status must be open or resolved.",
                        field="status")
    with transaction.atomic():
        actor = _membership(merchant_id, actor_user_id) if actor_user_id is not None else None
        if actor_user_id is not None and actor is None:
            raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")
        conversation = _lock(merchant_id, conversation_id)
        if conversation.status == Conversation.Status.CLOSED:
            raise KefuError(protocol.ErrorCode.CONVERSATION_CLOSED, "The conversation is closed.")
        name = actor.display_name if actor else _say(R_NOBODY)
        if status == Conversation.Status.RESOLVED:
            if conversation.status == Conversation.Status.RESOLVED:
                return conversation
            _resolve_locked(conversation, rule="manual", reason=_say(R_RESOLVED, actor=name),
                            actor=actor_user_id)
        else:
            if conversation.status in ACTIVE:
                return conversation
            previous = conversation.assignee_id
            conversation.status = Conversation.Status.OPEN
            conversation.resolved_at = None
            conversation.save(update_fields=["status", "resolved_at"])
            _event(conversation, Kind.REOPENED, "manual", _say(R_REOPENED, actor=name),
                   from_user=previous, actor=actor_user_id)
            if actor is not None:
                # The agent who reopens it keeps it: they are about to write.
                conversation.assignee_id = None
                claim_locked(conversation, membership=actor, rule="reopen")
                _changed(conversation, queue_moved=False)
            else:
                conversation.assignee_id = None
                conversation.routing_attempts = 0
                _route_or_queue(conversation, previous=previous)
            _tell_visitor(conversation)
    return conversation


def _resolve_locked(conversation: Conversation, *, rule: str, reason: str, actor=None) -> None:
    was_queued = conversation.queued_at is not None
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = timezone.now()
    conversation.queued_at = None
    conversation.save(update_fields=["status", "resolved_at", "queued_at"])
    _event(conversation, Kind.RESOLVED, rule, reason, from_user=conversation.assignee_id,
           actor=actor)
    _changed(conversation, queue_moved=was_queued)
    _tell_visitor(conversation)
    if conversation.assignee_id is not None:
        queue_drain_on_commit(conversation.merchant_id)


# --- Celery entry points ------------------------------------------------------------------------


@_publishing
def accept_timeout_fire(*, merchant_id: int, conversation_id: int, user_id: int,
                        assigned_at: str) -> str:
    """The assigned agent had `accept_timeout_seconds` to answer. Safe to run late or twice: it
    acts only if the conversation is still with `user_id` since the same `assigned_at` and no
    agent has replied since; the conversation row lock serialises two firings, and the first
    one changes assigned_at. Returns what it did: "noop", "moved", "queued", "returned"."""
    when = datetime.fromisoformat(assigned_at)
    with transaction.atomic():
        try:
            conversation = _lock(merchant_id, conversation_id)
        except NotFound:
            return "noop"
        if (conversation.status not in ACTIVE or conversation.assignee_id != user_id
                or conversation.assigned_at is None
                or abs((conversation.assigned_at - when).total_seconds()) > 0.001):
            return "noop"
        if Message.objects.filter(
            conversation=conversation, sender_kind=Message.SenderKind.AGENT, is_private=False,
            created_at__gte=conversation.assigned_at,
        ).exists():
            return "noop"  # accepted: the agent (or a colleague) answered
        merchant = Merchant.objects.get(pk=merchant_id)
        seconds = merchant.accept_timeout_seconds
        from_name = _name(merchant_id, user_id)
        previous_timeouts = conversation.routing_attempts
        conversation.routing_attempts += 1
        # Everyone who let it time out since it last left the queue is skipped.
        timed_out = set(
            RoutingEvent.objects.filter(conversation=conversation, kind=Kind.TIMEOUT)
            .order_by("-id").values_list("from_user_id", flat=True)[:previous_timeouts]
        ) | {user_id}
        if conversation.routing_attempts > merchant.max_reassignments:
            conversation.routing_attempts = 0
            _enqueue(conversation, head=True)
            _event(conversation, Kind.TIMEOUT, "timeout_returned", _say(
                R_TIMEOUT_RETURNED, seconds=seconds, moves=merchant.max_reassignments),
                from_user=user_id, detail={"seconds": seconds, "returned": True})
            managers = list(Membership.objects.filter(
                merchant_id=merchant_id, is_active=True,
                role__in=(Membership.Role.OWNER, Membership.Role.ADMIN),
            ).values_list("user_id", flat=True))
            _notify(merchant_id, conversation.pk, "returned", managers)
            _changed(conversation, queue_moved=True)
            return "returned"
        conversation.assignee_id = None
        picked = _route(conversation, merchant=merchant, exclude=frozenset(timed_out), sticky=False)
        if picked is None:
            _enqueue(conversation, head=True)
            _event(conversation, Kind.TIMEOUT, "timeout_queued", _say(
                R_TIMEOUT_QUEUED, seconds=seconds, **{"from": from_name}),
                from_user=user_id, detail={"seconds": seconds})
            _notify(merchant_id, conversation.pk, "queued")
            _changed(conversation, queue_moved=True)
            return "queued"
        candidate, rule, _, now = picked
        _assign(conversation, candidate, now)
        _event(conversation, Kind.TIMEOUT, "timeout", _say(
            R_TIMEOUT_MOVED, seconds=seconds, **{"from": from_name, "to": candidate.name}),
            from_user=user_id, to_user=candidate.user_id,
            detail={"seconds": seconds, "then": rule, "attempt": conversation.routing_attempts})
        _schedule_timeout(conversation, seconds)
        _notify(merchant_id, conversation.pk, "new", [candidate.user_id])
        _changed(conversation, queue_moved=False)
        # The agent who let it time out has a slot again.
        queue_drain_on_commit(merchant_id)
        return "moved"


@_publishing
def auto_resolve(*, now=None) -> int:
    """Resolve conversations nobody wrote in for the merchant's auto_resolve_minutes, when the
    visitor is not waiting (not queued, last word not an unanswered visitor message). Returns
    how many were resolved."""
    now = now or timezone.now()
    resolved = 0
    for merchant in Merchant.objects.filter(is_active=True, auto_resolve_minutes__gt=0):
        cutoff = now - timedelta(minutes=merchant.auto_resolve_minutes)
        ids = list(Conversation.objects.filter(
            merchant=merchant, status__in=ACTIVE, queued_at__isnull=True,
            awaiting_reply_since__isnull=True, last_message_at__lt=cutoff,
        ).values_list("id", flat=True)[:1000])
        for conversation_id in ids:
            with transaction.atomic():
                conversation = _lock(merchant.pk, conversation_id)
                # Re-checked under the lock: a message may have arrived meanwhile.
                if (conversation.status not in ACTIVE or conversation.queued_at is not None
                        or conversation.awaiting_reply_since is not None
                        or conversation.last_message_at is None
                        or conversation.last_message_at >= cutoff):
                    continue
                _resolve_locked(conversation, rule="auto_resolve", reason=_say(
                    R_AUTO_RESOLVED, minutes=merchant.auto_resolve_minutes))
                resolved += 1
    return resolved


def sweep(*, now=None) -> int:
    """Beat safety net, every minute: fire acceptance timeouts whose task was lost (a broker
    outage when it was scheduled) and drain every queue (capacity may have freed where no event
    told us: an agent's socket on another process, an admin raising max_concurrent). Returns
    how many conversations it moved or assigned."""
    now = now or timezone.now()
    done = 0
    for merchant in Merchant.objects.filter(is_active=True, accept_timeout_seconds__gt=0):
        # A grace period after the due time, so the regular task normally wins.
        overdue = now - timedelta(seconds=merchant.accept_timeout_seconds + SWEEP_GRACE_SECONDS)
        for conversation_id, user_id, assigned_at in Conversation.objects.filter(
            merchant=merchant, status__in=ACTIVE, assignee__isnull=False,
            assigned_at__lt=overdue, awaiting_reply_since__isnull=False,
        ).values_list("id", "assignee_id", "assigned_at")[:500]:
            if accept_timeout_fire(merchant_id=merchant.pk, conversation_id=conversation_id,
                                   user_id=user_id, assigned_at=assigned_at.isoformat()) != "noop":
                done += 1
    merchant_ids = set(
        Conversation.objects.filter(status__in=ACTIVE, assignee__isnull=True,
                                    queued_at__isnull=False)
        .values_list("merchant_id", flat=True).distinct()
    )
    return done + sum(queue_drain(merchant_id=m) for m in sorted(merchant_ids))
