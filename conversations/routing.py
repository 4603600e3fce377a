"""The router: who gets a conversation when a visitor writes, the bot hands over, a queue
drains or an assignment times out; auto-resolve and the beat sweep. Manual actions (claim,
transfer, resolve, reopen) are services (services.assignment); the reads it decides on are
selectors (eligible_agents, the queue, the ETA).

The rules, the queue, the ETA and the timeouts are described in docs/routing.md. Every decision
is a RoutingEvent (routing_event_create) published to the merchant's agents after the commit.

The locks every path takes, and their order, are in docs/routing.md ("Locks"). The membership
locks (_route) serialise every automatic assignment to one agent, so two routers cannot both
fill that agent's last slot.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from kefu.errors import NotFound
from kefu.transactions import on_commit_robust
from merchants.models import Membership, Merchant, Team

from . import realtime, selectors
from .models import Conversation, Message, RoutingEvent
from .selectors import ACTIVE, QUEUE_ORDER, Candidate, eligible_agents, queue_position
from .services.store import conversation_lock
from .timeline import (
    agent_label,
    conversation_changed,
    notify_on_commit,
    publish_queue,
    routing_event_create,
    say,
    visitor_state_publish,
)

logger = logging.getLogger(__name__)

# The beat sweep fires an acceptance timeout whose task never ran this long after it was due.
SWEEP_GRACE_SECONDS = 30
ACCEPT_TIMEOUT_TASK = "conversations.tasks.routing_accept_timeout"

Kind = RoutingEvent.Kind

# Reasons, as message ids: rendered in the site language when the decision is made. (The manual
# actions' reasons are with them, in services.assignment.)
R_STICKY = gettext_noop("sticky: previous agent %(agent)s online")
R_LEAST_BUSY = gettext_noop("least-busy: %(agent)s has %(open)s/%(capacity)s open")
R_ROUND_ROBIN = gettext_noop("round-robin: %(agent)s waited longest for a conversation")
R_QUEUED_NOBODY = gettext_noop("queued: no agent online")
R_QUEUED_FULL = gettext_noop("queued: every online agent is at capacity")
R_QUEUE_ASSIGNED = gettext_noop("from the queue after %(seconds)s s: %(choice)s")
R_TIMEOUT_MOVED = gettext_noop("timeout after %(seconds)s s, moved from %(from)s to %(to)s")
R_TIMEOUT_QUEUED = gettext_noop(
    "timeout after %(seconds)s s, no other agent available for %(from)s's conversation: queued"
)
R_TIMEOUT_RETURNED = gettext_noop(
    "timeout after %(seconds)s s (%(moves)s moves): back to the head of the queue"
)
R_AUTO_RESOLVED = gettext_noop("auto-resolved after %(minutes)s min of silence")
R_REOPENED_VISITOR = gettext_noop("reopened: the visitor wrote again")


def _schedule_timeout(conversation: Conversation, seconds: int) -> None:
    if seconds <= 0:
        return
    kwargs = {
        "merchant_id": conversation.merchant_id,
        "conversation_id": conversation.pk,
        "user_id": conversation.assignee_id,
        "assigned_at": conversation.assigned_at.isoformat(),
    }

    def send():
        try:
            # By name: conversations.tasks imports this module, so this one does not import it.
            current_app.send_task(ACCEPT_TIMEOUT_TASK, kwargs=kwargs, countdown=seconds)
        except Exception:
            # The beat sweep (routing_sweep) catches missed timeouts; routing must not fail.
            logger.exception("could not schedule the acceptance timeout of %s", kwargs)

    transaction.on_commit(send)


# --- The router ----------------------------------------------------------------------------------


def _order(candidates: list[Candidate], method: str) -> list[Candidate]:
    epoch = datetime.min.replace(tzinfo=UTC)
    if method == Merchant.RoutingMethod.ROUND_ROBIN:
        return sorted(candidates, key=lambda c: (c.last_assigned_at or epoch, c.user_id))
    return sorted(candidates, key=lambda c: (c.load, c.last_assigned_at or epoch, c.user_id))


def _route(
    conversation: Conversation,
    *,
    merchant: Merchant,
    exclude=frozenset(),
    candidates: list[Candidate] | None = None,
    sticky: bool = True,
    previous: int | None = None,
):
    """Pick and take an agent for a locked conversation. (candidate, rule, reason) or None."""
    team = conversation.team if conversation.team_id else None
    team_id = team.pk if team is not None and team.is_active else None
    if candidates is None:
        candidates = eligible_agents(merchant_id=merchant.pk, team_id=team_id, exclude=exclude)
    else:
        candidates = [
            c
            for c in candidates
            if c.user_id not in exclude
            and (team_id is None or team_id in c.team_ids)
            and c.open < c.capacity
        ]
    if not candidates:
        return None
    method = (
        team.routing_method if team is not None and team.routing_method else merchant.routing_method
    )
    if not (sticky and merchant.sticky_agent):
        previous = None
    elif previous is None:
        previous = selectors.previous_agent(conversation)
    now = timezone.now()
    # Lock every candidate's membership in one statement, in primary-key order: routers that
    # try several agents then never hold one agent while waiting for another in the opposite
    # order (a deadlock). Counts re-read under the locks include other routers' commits.
    locked = {
        m.pk: m
        for m in Membership.objects.select_for_update()
        .filter(
            pk__in=[c.membership_id for c in candidates],
            is_active=True,
            is_away=False,
        )
        .order_by("pk")
    }
    counts = selectors.open_counts(
        merchant_id=merchant.pk, user_ids=[m.user_id for m in locked.values()]
    )
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
        rule, reason = "sticky", say(R_STICKY, agent=candidate.name)
    elif method == Merchant.RoutingMethod.ROUND_ROBIN:
        rule, reason = "round_robin", say(R_ROUND_ROBIN, agent=candidate.name)
    else:
        rule, reason = (
            "least_busy",
            say(R_LEAST_BUSY, agent=candidate.name, open=open_before, capacity=candidate.capacity),
        )
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
        first = (
            selectors.queued(merchant_id=conversation.merchant_id)
            .exclude(pk=conversation.pk)
            .order_by("queued_at")
            .values_list("queued_at", flat=True)
            .first()
        )
        now = timezone.now()
        conversation.queued_at = min(first, now) - timedelta(seconds=1) if first else now
    elif conversation.queued_at is None:
        conversation.queued_at = timezone.now()
    conversation.save(update_fields=["assignee", "assigned_at", "queued_at", "routing_attempts"])


def route_or_queue(
    conversation: Conversation,
    *,
    kind: str = Kind.ASSIGNED,
    actor=None,
    exclude=frozenset(),
    sticky: bool = True,
    notify_reason: str = "new",
    previous: int | None = None,
) -> bool:
    """Route a locked, unassigned conversation; queue it when nobody can take it. True when
    assigned."""
    merchant = Merchant.objects.get(pk=conversation.merchant_id)
    was_queued = conversation.queued_at is not None
    picked = _route(
        conversation, merchant=merchant, exclude=exclude, sticky=sticky, previous=previous
    )
    if picked is None:
        online_any = bool(selectors.online_agent_ids(merchant_id=merchant.pk))
        _enqueue(conversation)
        if not was_queued:
            routing_event_create(
                conversation,
                Kind.QUEUED,
                "queue",
                say(R_QUEUED_FULL if online_any else R_QUEUED_NOBODY),
                actor=actor,
                team_id=conversation.team_id,
            )
            notify_on_commit(merchant.pk, conversation.pk, "queued")
        # Joining the queue moves only those behind it (a higher priority jumps ahead).
        conversation_changed(
            conversation, queue_moved=True, from_position=queue_position(conversation) or 1
        )
        return False
    candidate, rule, reason, now = picked
    _assign(conversation, candidate, now)
    routing_event_create(
        conversation,
        kind,
        rule,
        reason,
        to_user=candidate.user_id,
        actor=actor,
        team_id=conversation.team_id,
        detail={"open": candidate.open - 1, "capacity": candidate.capacity},
    )
    _schedule_timeout(conversation, merchant.accept_timeout_seconds)
    notify_on_commit(merchant.pk, conversation.pk, notify_reason, [candidate.user_id])
    conversation_changed(conversation, queue_moved=was_queued)
    # The visitor hears of it too: the widget's header names the agent who joined.
    visitor_state_publish(conversation)
    return True


@realtime.publishing
def visitor_message_received(
    *, merchant_id: int, conversation_id: int, message_id: int, started: bool, reopened: bool
) -> None:
    """After a visitor message committed in a conversation the bot does not own: assign,
    queue or leave it (already assigned or queued), record why."""
    with transaction.atomic():
        try:
            conversation = conversation_lock(
                merchant_id=merchant_id, conversation_id=conversation_id
            )
        except NotFound:
            return
        if conversation.status not in ACTIVE or conversation.bot_active:
            return
        previous = None
        if reopened:
            previous = conversation.assignee_id
            routing_event_create(
                conversation, Kind.REOPENED, "visitor", say(R_REOPENED_VISITOR), from_user=previous
            )
            # Route again; sticky brings the visitor back to `previous` if they can take it.
            conversation.assignee_id = None
            conversation.routing_attempts = 0
        elif conversation.assignee_id is not None or conversation.queued_at is not None:
            return
        route_or_queue(conversation, previous=previous)


@realtime.publishing
@transaction.atomic
def conversation_handover(
    *,
    merchant_id: int,
    conversation_id: int,
    reason: str,
    reason_text: str,
    detail: dict | None = None,
) -> None:
    """The bot steps aside (conversations.bot.conversation_handover, which owns the reasons):
    clear bot_active, record a HANDOVER routing event with the bot's `reason` code and its
    rendered `reason_text`, then route like a new conversation."""
    try:
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
    except NotFound:
        return
    if not conversation.bot_active and conversation.handed_over_at is not None:
        return  # already handed over (a double click, a retried task)
    conversation.bot_active = False
    conversation.handed_over_at = timezone.now()
    conversation.save(update_fields=["bot_active", "handed_over_at"])
    routing_event_create(
        conversation,
        Kind.HANDOVER,
        "handover",
        reason_text,
        detail={"reason": reason, **(detail or {})},
    )
    if (
        conversation.status in ACTIVE
        and conversation.assignee_id is None
        and conversation.queued_at is None
    ):
        route_or_queue(conversation)
    else:
        conversation_changed(conversation, queue_moved=False)
    visitor_state_publish(conversation)


# --- Queue drain -----------------------------------------------------------------------------------


@realtime.publishing
def queue_drain(*, merchant_id: int, limit: int = 500) -> int:
    """Assign queued conversations oldest-first (priority first) while capacity allows; returns
    how many were assigned. Called when capacity frees or an agent comes online.

    Eligible agents are read once; a conversation whose team has nobody free is skipped (the
    ones behind it may be for another team). Each assignment is its own short transaction that
    locks the conversation and re-checks it is still queued, so two drains, or a drain and a
    claim, never assign one conversation twice.
    """
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None or not selectors.queued(merchant_id=merchant_id).exists():
        return 0  # the common case when an agent connects: nobody waiting
    candidates = eligible_agents(merchant_id=merchant_id)
    assigned = 0
    if candidates:
        queued = list(
            selectors.queued(merchant_id=merchant_id)
            .order_by(*QUEUE_ORDER)
            .values_list("id", "team_id")[:limit]
        )
        active_teams = set(
            Team.objects.filter(merchant_id=merchant_id, is_active=True).values_list(
                "id", flat=True
            )
        )
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
        conversation = conversation_lock(merchant_id=merchant.pk, conversation_id=conversation_id)
        if (
            conversation.status not in ACTIVE
            or conversation.assignee_id is not None
            or conversation.queued_at is None
        ):
            return False  # claimed, resolved or drained by someone else meanwhile
        picked = _route(conversation, merchant=merchant, candidates=candidates)
        if picked is None:
            return False
        candidate, rule, reason, now = picked
        waited = int((now - conversation.queued_at).total_seconds())
        _assign(conversation, candidate, now)
        routing_event_create(
            conversation,
            Kind.ASSIGNED,
            rule,
            say(R_QUEUE_ASSIGNED, seconds=max(waited, 0), choice=reason),
            to_user=candidate.user_id,
            team_id=conversation.team_id,
            detail={
                "open": candidate.open - 1,
                "capacity": candidate.capacity,
                "waited_seconds": waited,
                "from_queue": True,
            },
        )
        _schedule_timeout(conversation, merchant.accept_timeout_seconds)
        notify_on_commit(merchant.pk, conversation.pk, "new", [candidate.user_id])
        realtime.conversation_updated(conversation)
        visitor_state_publish(conversation)
        return True


def queue_drain_on_commit(merchant_id: int) -> None:
    on_commit_robust(queue_drain, merchant_id=merchant_id)


def capacity_freed_received(sender, *, merchant_id: int, **kwargs) -> None:
    """merchants.signals.capacity_freed (connected in ConversationsConfig.ready): an agent can
    take more conversations, so serve the queue. Runs after the merchants change committed."""
    queue_drain(merchant_id=merchant_id)


def resolve_locked(conversation: Conversation, *, rule: str, reason: str, actor=None) -> None:
    """Resolve a locked conversation (a manual resolve or auto_resolve); its agent's slot
    frees, so the queue drains after the commit."""
    was_queued = conversation.queued_at is not None
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = timezone.now()
    conversation.queued_at = None
    # A resolved conversation is no longer snoozed (services.inbox).
    conversation.snoozed_at = conversation.snoozed_until = None
    conversation.save(
        update_fields=["status", "resolved_at", "queued_at", "snoozed_at", "snoozed_until"]
    )
    routing_event_create(
        conversation, Kind.RESOLVED, rule, reason, from_user=conversation.assignee_id, actor=actor
    )
    conversation_changed(conversation, queue_moved=was_queued)
    visitor_state_publish(conversation)
    if conversation.assignee_id is not None:
        queue_drain_on_commit(conversation.merchant_id)


# --- Celery entry points ------------------------------------------------------------------------


@realtime.publishing
def accept_timeout_fire(
    *, merchant_id: int, conversation_id: int, user_id: int, assigned_at: str
) -> str:
    """The assigned agent had `accept_timeout_seconds` to answer. Safe to run late or twice: it
    acts only if the conversation is still with `user_id` since the same `assigned_at` and no
    agent has replied since; the conversation row lock serialises two firings, and the first
    one changes assigned_at. Returns what it did: "noop", "moved", "queued", "returned"."""
    when = datetime.fromisoformat(assigned_at)
    with transaction.atomic():
        try:
            conversation = conversation_lock(
                merchant_id=merchant_id, conversation_id=conversation_id
            )
        except NotFound:
            return "noop"
        if (
            conversation.status not in ACTIVE
            or conversation.assignee_id != user_id
            or conversation.assigned_at is None
            or abs((conversation.assigned_at - when).total_seconds()) > 0.001
        ):
            return "noop"
        if Message.objects.filter(
            conversation=conversation,
            sender_kind=Message.SenderKind.AGENT,
            is_private=False,
            created_at__gte=conversation.assigned_at,
        ).exists():
            return "noop"  # accepted: the agent (or a colleague) answered
        merchant = Merchant.objects.get(pk=merchant_id)
        seconds = merchant.accept_timeout_seconds
        from_name = agent_label(merchant_id, user_id)
        previous_timeouts = conversation.routing_attempts
        conversation.routing_attempts += 1
        # Everyone who let it time out since it last left the queue is skipped.
        timed_out = set(
            RoutingEvent.objects.filter(conversation=conversation, kind=Kind.TIMEOUT)
            .order_by("-id")
            .values_list("from_user_id", flat=True)[:previous_timeouts]
        ) | {user_id}
        if conversation.routing_attempts > merchant.max_reassignments:
            conversation.routing_attempts = 0
            _enqueue(conversation, head=True)
            routing_event_create(
                conversation,
                Kind.TIMEOUT,
                "timeout_returned",
                say(R_TIMEOUT_RETURNED, seconds=seconds, moves=merchant.max_reassignments),
                from_user=user_id,
                detail={"seconds": seconds, "returned": True},
            )
            managers = list(
                Membership.objects.filter(
                    merchant_id=merchant_id,
                    is_active=True,
                    role__in=(Membership.Role.OWNER, Membership.Role.ADMIN),
                ).values_list("user_id", flat=True)
            )
            notify_on_commit(merchant_id, conversation.pk, "returned", managers)
            conversation_changed(conversation, queue_moved=True)
            return "returned"
        conversation.assignee_id = None
        picked = _route(conversation, merchant=merchant, exclude=frozenset(timed_out), sticky=False)
        if picked is None:
            _enqueue(conversation, head=True)
            routing_event_create(
                conversation,
                Kind.TIMEOUT,
                "timeout_queued",
                say(R_TIMEOUT_QUEUED, seconds=seconds, **{"from": from_name}),
                from_user=user_id,
                detail={"seconds": seconds},
            )
            notify_on_commit(merchant_id, conversation.pk, "queued")
            conversation_changed(conversation, queue_moved=True)
            return "queued"
        candidate, rule, _, now = picked
        _assign(conversation, candidate, now)
        routing_event_create(
            conversation,
            Kind.TIMEOUT,
            "timeout",
            say(R_TIMEOUT_MOVED, seconds=seconds, **{"from": from_name, "to": candidate.name}),
            from_user=user_id,
            to_user=candidate.user_id,
            detail={"seconds": seconds, "then": rule, "attempt": conversation.routing_attempts},
        )
        _schedule_timeout(conversation, seconds)
        notify_on_commit(merchant_id, conversation.pk, "new", [candidate.user_id])
        conversation_changed(conversation, queue_moved=False)
        # The agent who let it time out has a slot again.
        queue_drain_on_commit(merchant_id)
        return "moved"


@realtime.publishing
def auto_resolve(*, now=None) -> int:
    """Resolve conversations nobody wrote in for the merchant's auto_resolve_minutes, when the
    visitor is not waiting (not queued, last word not an unanswered visitor message). Returns
    how many were resolved."""
    now = now or timezone.now()
    resolved = 0
    for merchant in Merchant.objects.filter(is_active=True, auto_resolve_minutes__gt=0):
        cutoff = now - timedelta(minutes=merchant.auto_resolve_minutes)
        ids = list(
            Conversation.objects.filter(
                merchant=merchant,
                status__in=ACTIVE,
                queued_at__isnull=True,
                awaiting_reply_since__isnull=True,
                last_message_at__lt=cutoff,
            ).values_list("id", flat=True)[:1000]
        )
        for conversation_id in ids:
            with transaction.atomic():
                conversation = conversation_lock(
                    merchant_id=merchant.pk, conversation_id=conversation_id
                )
                # Re-checked under the lock: a message may have arrived meanwhile.
                if (
                    conversation.status not in ACTIVE
                    or conversation.queued_at is not None
                    or conversation.awaiting_reply_since is not None
                    or conversation.last_message_at is None
                    or conversation.last_message_at >= cutoff
                ):
                    continue
                resolve_locked(
                    conversation,
                    rule="auto_resolve",
                    reason=say(R_AUTO_RESOLVED, minutes=merchant.auto_resolve_minutes),
                )
                resolved += 1
    return resolved


def sweep(*, now=None) -> int:
    """Beat safety net, every minute: fire acceptance timeouts whose task was lost (a broker
    outage when it was scheduled) and drain every queue (capacity may have freed where no event
    told us: an agent's socket on another process, a drain after capacity_freed that failed).
    Returns how many conversations it moved or assigned."""
    now = now or timezone.now()
    done = 0
    for merchant in Merchant.objects.filter(is_active=True, accept_timeout_seconds__gt=0):
        # A grace period after the due time, so the regular task normally wins.
        overdue = now - timedelta(seconds=merchant.accept_timeout_seconds + SWEEP_GRACE_SECONDS)
        for conversation_id, user_id, assigned_at in Conversation.objects.filter(
            merchant=merchant,
            status__in=ACTIVE,
            assignee__isnull=False,
            assigned_at__lt=overdue,
            awaiting_reply_since__isnull=False,
        ).values_list("id", "assignee_id", "assigned_at")[:500]:
            if (
                accept_timeout_fire(
                    merchant_id=merchant.pk,
                    conversation_id=conversation_id,
                    user_id=user_id,
                    assigned_at=assigned_at.isoformat(),
                )
                != "noop"
            ):
                done += 1
    merchant_ids = set(
        Conversation.objects.filter(
            status__in=ACTIVE, assignee__isnull=True, queued_at__isnull=False
        )
        .values_list("merchant_id", flat=True)
        .distinct()
    )
    return done + sum(queue_drain(merchant_id=m) for m in sorted(merchant_ids))
