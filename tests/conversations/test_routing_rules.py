"""Each routing rule through the real services (SQLite or MariaDB, in-memory presence):
eligibility, sticky / least-busy / round-robin, queue order and drain, claim, transfer,
resolve/reopen, acceptance timeouts, auto-resolve, handover, the ETA and the reasons."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import bot, routing, selectors, services
from conversations.models import Conversation, Message, RoutingEvent
from kefu.errors import KefuError
from merchants.models import Membership, Merchant, Team
from notifications import services as notify
from tests import factories
from tests.conversations.routing_helpers import (  # noqa: F401 (english, fresh_realtime: autouse)
    english,
    fresh_realtime,
    go_offline,
    go_online,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """A visitor message through the real service, with its after-commit work (routing) run."""

    def send(visitor, body="你好"):
        with django_capture_on_commit_callbacks(execute=True):
            message = factories.visitor_message(visitor, body)
        return Conversation.objects.get(pk=message.conversation_id)

    return send


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run a service and its after-commit work (drains, publishes)."""

    def call(fn, **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kw)

    return call


@pytest.fixture
def notified(monkeypatch):
    """Calls to the notification contract (the real function still runs)."""
    calls = []
    real = notify.notify_agents

    def spy(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(notify, "notify_agents", spy)
    return calls


def last_event(conversation):
    return RoutingEvent.objects.filter(conversation_id=conversation.pk).order_by("-id").first()


def give(membership, n):
    """n open conversations already assigned to this agent."""
    for _ in range(n):
        v = factories.visitor(membership.merchant)
        c = Conversation.objects.create(
            merchant=membership.merchant, visitor=v, assignee=membership.user
        )
        c.save()


# --- choosing an agent -----------------------------------------------------------------------------


def test_least_busy_picks_the_lowest_load_and_says_why(acme, bob, carol, ask, notified):
    acme.sticky_agent = False
    acme.save()
    bob.max_concurrent, carol.max_concurrent = 5, 5
    bob.save(), carol.save()
    give(bob, 1)
    go_online(bob), go_online(carol)
    c = ask(factories.visitor(acme))
    assert c.assignee_id == carol.user_id and c.assigned_at and c.queued_at is None
    e = last_event(c)
    assert (e.kind, e.rule, e.to_user_id) == ("assigned", "least_busy", carol.user_id)
    assert e.reason == "least-busy: Carol has 0/5 open"
    assert notified[-1] == {
        "merchant_id": acme.pk,
        "conversation_id": c.pk,
        "reason": "new",
        "user_ids": [carol.user_id],
    }
    # Now both have 1/5: the tie goes to the one assigned longest ago (bob never was).
    c2 = ask(factories.visitor(acme))
    assert c2.assignee_id == bob.user_id
    assert last_event(c2).reason == "least-busy: Bob has 1/5 open"


def test_load_is_relative_to_capacity(acme, bob, carol, ask):
    bob.max_concurrent, carol.max_concurrent = 10, 2
    bob.save(), carol.save()
    give(bob, 3)  # 0.3
    give(carol, 1)  # 0.5
    go_online(bob), go_online(carol)
    assert ask(factories.visitor(acme)).assignee_id == bob.user_id


def test_round_robin_takes_the_longest_idle_and_team_overrides(acme, bob, carol, ask):
    acme.routing_method = Merchant.RoutingMethod.ROUND_ROBIN
    acme.sticky_agent = False
    acme.save()
    now = timezone.now()
    Membership.objects.filter(pk=bob.pk).update(last_assigned_at=now - timedelta(minutes=1))
    Membership.objects.filter(pk=carol.pk).update(last_assigned_at=now - timedelta(minutes=5))
    give(carol, 3)  # busier, but idle longest: round robin ignores load
    go_online(bob), go_online(carol)
    c = ask(factories.visitor(acme))
    assert c.assignee_id == carol.user_id and last_event(c).rule == "round_robin"
    assert "Carol waited longest" in last_event(c).reason
    # A team with least-busy overrides the merchant's round robin.
    team = Team.objects.create(merchant=acme, name="售后", routing_method="least_busy")
    bob.teams.add(team), carol.teams.add(team)
    v = factories.visitor(acme)
    with_team = Conversation.objects.create(merchant=acme, visitor=v, team=team)
    routing.visitor_message_received(
        merchant_id=acme.pk,
        conversation_id=with_team.pk,
        message_id=0,
        started=True,
        reopened=False,
    )
    with_team.refresh_from_db()
    assert with_team.assignee_id == bob.user_id and last_event(with_team).rule == "least_busy"


def test_sticky_returns_the_visitor_to_the_previous_agent(acme, bob, carol, ask, commit):
    go_online(bob), go_online(carol)
    visitor = factories.visitor(acme)
    first = ask(visitor)
    who = first.assignee_id
    other = carol if who == bob.user_id else bob
    give(Membership.objects.get(merchant=acme, user_id=who), 3)  # now much busier
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=first.pk,
        actor_user_id=who,
        status="resolved",
    )
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.CLOSED)
    second = ask(visitor)
    assert second.pk != first.pk and second.assignee_id == who
    assert last_event(second).rule == "sticky"
    assert last_event(second).reason.startswith("sticky: previous agent")
    # Sticky off: least busy wins.
    acme.sticky_agent = False
    acme.save()
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=second.pk,
        actor_user_id=who,
        status="resolved",
    )
    Conversation.objects.filter(pk=second.pk).update(status=Conversation.Status.CLOSED)
    assert ask(visitor).assignee_id == other.user_id


def test_sticky_agent_offline_falls_back(acme, bob, carol, ask, commit):
    go_online(bob)
    visitor = factories.visitor(acme)
    first = ask(visitor)
    assert first.assignee_id == bob.user_id
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=first.pk,
        actor_user_id=bob.user_id,
        status="resolved",
    )
    go_offline(bob), go_online(carol)
    reopened = ask(visitor)  # the visitor writes again: the resolved conversation reopens
    assert reopened.pk == first.pk and reopened.status == "open"
    assert reopened.assignee_id == carol.user_id
    kinds = list(RoutingEvent.objects.filter(conversation=first).values_list("kind", flat=True))
    assert kinds[-2:] == ["reopened", "assigned"]


@pytest.mark.parametrize("why", ["offline", "away", "inactive", "full", "zero_capacity", "team"])
def test_ineligible_agents_mean_the_queue(acme, bob, ask, notified, why):
    go_online(bob)
    team = None
    if why == "offline":
        go_offline(bob)
    elif why == "away":
        Membership.objects.filter(pk=bob.pk).update(is_away=True)
    elif why == "inactive":
        Membership.objects.filter(pk=bob.pk).update(is_active=False)
    elif why == "full":
        Membership.objects.filter(pk=bob.pk).update(max_concurrent=2)
        give(bob, 2)
    elif why == "zero_capacity":
        Membership.objects.filter(pk=bob.pk).update(max_concurrent=0)
    elif why == "team":
        team = Team.objects.create(merchant=acme, name="VIP")
    visitor = factories.visitor(acme)
    if team is not None:
        c = Conversation.objects.create(merchant=acme, visitor=visitor, team=team)
        routing.visitor_message_received(
            merchant_id=acme.pk, conversation_id=c.pk, message_id=0, started=True, reopened=False
        )
        c.refresh_from_db()
    else:
        c = ask(visitor)
    assert c.assignee_id is None and c.queued_at is not None
    e = last_event(c)
    assert e.kind == "queued"
    expected = (
        "queued: every online agent is at capacity"
        if why in ("full", "team", "zero_capacity")
        else "queued: no agent online"
    )
    assert e.reason == expected
    if team is None:
        assert notified[-1]["reason"] == "queued" and notified[-1]["user_ids"] is None


def test_agents_of_another_merchant_never_get_acme_conversations(acme, other, charlie, ask):
    go_online(charlie)
    c = ask(factories.visitor(acme))
    assert c.assignee_id is None and c.queued_at is not None


# --- queue ----------------------------------------------------------------------------------------


def test_queue_order_positions_and_drain_oldest_first(acme, bob, ask, commit):
    visitors = [factories.visitor(acme, name=f"v{i}") for i in range(4)]
    queued = [ask(v) for v in visitors]
    # The third one is angry: priority puts it first.
    Conversation.objects.filter(pk=queued[2].pk).update(priority=10)
    rows, total = selectors.queue_snapshot(merchant_id=acme.pk)
    assert total == 4
    assert [r.pk for r in rows] == [queued[2].pk, queued[0].pk, queued[1].pk, queued[3].pk]
    assert [r.queue_position for r in rows] == [1, 2, 3, 4]
    assert selectors.queue_position(Conversation.objects.get(pk=queued[3].pk)) == 4
    # bob comes online with room for two: the two at the head are served, in order.
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=2)
    go_online(bob)
    assert commit(routing.queue_drain, merchant_id=acme.pk) == 2
    served = set(Conversation.objects.filter(assignee=bob.user).values_list("id", flat=True))
    assert served == {queued[2].pk, queued[0].pk}
    assert selectors.queue_position(Conversation.objects.get(pk=queued[1].pk)) == 1
    e = last_event(queued[0])
    assert e.kind == "assigned" and e.detail["from_queue"] is True
    assert e.reason.startswith("from the queue after")
    # Resolving one frees a slot: the next in line is served.
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=queued[2].pk,
        actor_user_id=bob.user_id,
        status="resolved",
    )
    assert Conversation.objects.get(pk=queued[1].pk).assignee_id == bob.user_id
    assert Conversation.objects.get(pk=queued[3].pk).assignee_id is None
    assert last_event(queued[2]).kind == "resolved"


def test_drain_skips_a_team_nobody_can_serve_and_serves_the_next(acme, bob, ask, commit):
    team = Team.objects.create(merchant=acme, name="English")
    v1, v2 = factories.visitor(acme), factories.visitor(acme)
    c1 = Conversation.objects.create(merchant=acme, visitor=v1, team=team)
    routing.visitor_message_received(
        merchant_id=acme.pk, conversation_id=c1.pk, message_id=0, started=True, reopened=False
    )
    c2 = ask(v2)
    go_online(bob)  # bob is not in the team
    assert commit(routing.queue_drain, merchant_id=acme.pk) == 1
    c1.refresh_from_db(), c2.refresh_from_db()
    assert c1.assignee_id is None and c1.queued_at is not None
    assert c2.assignee_id == bob.user_id


def test_drain_respects_capacity_raised_later(acme, bob, ask, commit):
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    go_online(bob)
    ask(factories.visitor(acme))
    waiting = [ask(factories.visitor(acme)) for _ in range(3)]
    assert all(c.queued_at for c in waiting)
    assert commit(routing.queue_drain, merchant_id=acme.pk) == 0
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=3)
    assert commit(routing.queue_drain, merchant_id=acme.pk) == 2
    assert Conversation.objects.filter(assignee=bob.user, status="open").count() == 3


def test_eta_from_throughput_and_from_handling_time(acme, bob, ask):
    # No history: the default handling time (300 s) over the open slots online (none -> 1).
    assert selectors.seconds_per_slot(acme.pk) == 300
    go_online(bob)
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=4)
    assert selectors.seconds_per_slot(acme.pk) == 75
    assert selectors.estimate_wait_seconds(3, 75) == 225
    # Resolved conversations give the average handling time: 120 s / 4 slots.
    now = timezone.now()
    for _ in range(2):
        v = factories.visitor(acme)
        Conversation.objects.create(
            merchant=acme,
            visitor=v,
            status="resolved",
            assigned_at=now - timedelta(seconds=120),
            resolved_at=now,
        )
    assert selectors.seconds_per_slot(acme.pk) == 30
    # With enough assignments in the last 30 minutes throughput wins: 6 -> one per 300 s.
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=6)
    for _ in range(6):
        assert ask(factories.visitor(acme)).assignee_id == bob.user_id
    assert selectors.seconds_per_slot(acme.pk) == 300
    waiting = [ask(factories.visitor(acme)) for _ in range(2)]
    state = selectors.visitor_state(merchant_id=acme.pk, conversation_id=waiting[1].pk)
    assert (state.queue_position, state.estimated_wait_seconds) == (2, 600)
    assert selectors.visitor_state(merchant_id=acme.pk, conversation_id=424242) is None


# --- manual actions -------------------------------------------------------------------------------


def test_claim_from_the_queue_and_the_loser_gets_already_assigned(acme, bob, carol, ask, commit):
    c = ask(factories.visitor(acme))
    assert c.queued_at is not None
    commit(
        services.conversation_claim,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        user_id=carol.user_id,
    )
    c.refresh_from_db()
    assert (c.assignee_id, c.queued_at) == (carol.user_id, None)
    assert last_event(c).kind == "claimed" and last_event(c).reason == "claimed by Carol"
    with pytest.raises(KefuError) as err:
        services.conversation_claim(merchant_id=acme.pk, conversation_id=c.pk, user_id=bob.user_id)
    assert err.value.code == "already_assigned"
    # Claiming one's own again is a no-op, not an error.
    services.conversation_claim(merchant_id=acme.pk, conversation_id=c.pk, user_id=carol.user_id)
    assert RoutingEvent.objects.filter(conversation=c, kind="claimed").count() == 1


def test_claim_refusals(acme, other, bob, charlie, ask, commit):
    c = ask(factories.visitor(acme))
    with pytest.raises(KefuError) as err:
        services.conversation_claim(
            merchant_id=acme.pk, conversation_id=c.pk, user_id=charlie.user_id
        )
    assert err.value.code == "forbidden"
    with pytest.raises(KefuError) as err:
        services.conversation_claim(
            merchant_id=other.pk, conversation_id=c.pk, user_id=charlie.user_id
        )
    assert err.value.code == "not_found"
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        actor_user_id=bob.user_id,
        status="resolved",
    )
    with pytest.raises(KefuError) as err:
        services.conversation_claim(merchant_id=acme.pk, conversation_id=c.pk, user_id=bob.user_id)
    assert err.value.code == "conversation_closed"
    assert Conversation.objects.get(pk=c.pk).assignee_id is None


def test_an_agent_reply_claims_a_queued_conversation(
    acme, bob, ask, django_capture_on_commit_callbacks
):
    c = ask(factories.visitor(acme))
    assert c.queued_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        factories.agent_message(bob, c.pk, "我来")
    c.refresh_from_db()
    assert (c.assignee_id, c.queued_at) == (bob.user_id, None)
    e = last_event(c)
    assert (e.kind, e.rule, e.reason) == ("claimed", "reply", "claimed by Bob by replying")
    # A private note does not claim.
    c2 = ask(factories.visitor(acme))
    factories.agent_message(bob, c2.pk, "note", private=True)
    assert Conversation.objects.get(pk=c2.pk).assignee_id is None


def test_transfer_rules(acme, alice, bob, carol, ask, commit, notified):
    go_online(bob)
    c = ask(factories.visitor(acme))
    assert c.assignee_id == bob.user_id
    # carol (an agent) cannot move bob's conversation.
    with pytest.raises(KefuError) as err:
        services.conversation_transfer(
            merchant_id=acme.pk,
            conversation_id=c.pk,
            actor_user_id=carol.user_id,
            to_user_id=carol.user_id,
        )
    assert err.value.code == "forbidden"
    # bob transfers his own, with a note that stays private.
    commit(
        services.conversation_transfer,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        actor_user_id=bob.user_id,
        to_user_id=carol.user_id,
        note="VIP 客户，请优先",
    )
    c.refresh_from_db()
    assert c.assignee_id == carol.user_id
    e = last_event(c)
    assert (e.kind, e.from_user_id, e.to_user_id, e.actor_id) == (
        "transferred",
        bob.user_id,
        carol.user_id,
        bob.user_id,
    )
    assert e.reason == "transferred from Bob to Carol by Bob"
    # The note, then the visitor's line "transferred to Carol" (kind event, not private).
    line, note = Message.objects.filter(conversation=c).order_by("-seq")[:2]
    assert (line.kind, line.is_private, line.meta) == (
        "event",
        False,
        {"system": "transferred", "agent": "Carol"},
    )
    assert (
        note.is_private and note.body == "VIP 客户，请优先" and note.sender_user_id == bob.user_id
    )
    assert {
        "merchant_id": acme.pk,
        "conversation_id": c.pk,
        "reason": "new",
        "user_ids": [carol.user_id],
    } in notified
    # alice (owner) reassigns carol's conversation back to bob.
    commit(
        services.conversation_transfer,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        actor_user_id=alice.user_id,
        to_user_id=bob.user_id,
    )
    assert Conversation.objects.get(pk=c.pk).assignee_id == bob.user_id
    assert last_event(c).kind == "reassigned"
    for bad, code in (
        ({"to_user_id": 999999}, "agent_unavailable"),
        ({"to_team_id": 999999}, "agent_unavailable"),
        ({}, "invalid_frame"),
        ({"to_user_id": bob.user_id, "to_team_id": 1}, "invalid_frame"),
    ):
        with pytest.raises(KefuError) as err:
            services.conversation_transfer(
                merchant_id=acme.pk, conversation_id=c.pk, actor_user_id=bob.user_id, **bad
            )
        assert err.value.code == code, bad


def test_transfer_to_a_team_routes_inside_the_team(acme, bob, carol, dave, ask, commit):
    team = Team.objects.create(merchant=acme, name="售后")
    carol.teams.add(team), bob.teams.add(team)
    go_online(bob)
    c = ask(factories.visitor(acme))
    assert c.assignee_id == bob.user_id
    go_online(carol), go_online(dave)
    commit(
        services.conversation_transfer,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        actor_user_id=bob.user_id,
        to_team_id=team.pk,
        note="退货",
    )
    c.refresh_from_db()
    # dave is free but not in the team; bob handed it on: carol gets it.
    assert (c.team_id, c.assignee_id) == (team.pk, carol.user_id)
    kinds = list(RoutingEvent.objects.filter(conversation=c).values_list("kind", "rule"))
    assert kinds[-2:] == [("transferred", "transfer_team"), ("assigned", "least_busy")]


def test_resolve_and_reopen(acme, bob, ask, commit):
    go_online(bob)
    c = ask(factories.visitor(acme))
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        actor_user_id=bob.user_id,
        status="resolved",
    )
    c.refresh_from_db()
    assert c.status == "resolved" and c.resolved_at
    assert last_event(c).reason == "resolved by Bob"
    commit(
        services.conversation_set_status,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        actor_user_id=bob.user_id,
        status="open",
    )
    c.refresh_from_db()
    assert (c.status, c.assignee_id, c.resolved_at) == ("open", bob.user_id, None)
    assert [e.kind for e in RoutingEvent.objects.filter(conversation=c)][-3:] == [
        "resolved",
        "reopened",
        "claimed",
    ]


# --- acceptance timeout ---------------------------------------------------------------------------


def fire(c):
    c.refresh_from_db()
    return routing.accept_timeout_fire(
        merchant_id=c.merchant_id,
        conversation_id=c.pk,
        user_id=c.assignee_id,
        assigned_at=c.assigned_at.isoformat(),
    )


def test_timeout_moves_to_the_next_agent_then_returns_to_the_queue_head(
    acme, alice, bob, carol, ask, commit, notified
):
    acme.accept_timeout_seconds, acme.max_reassignments, acme.sticky_agent = 60, 1, False
    acme.save()
    Membership.objects.filter(pk=alice.pk).update(is_away=True)
    go_online(bob), go_online(carol)
    Membership.objects.filter(pk__in=[bob.pk, carol.pk]).update(max_concurrent=5)
    c = ask(factories.visitor(acme))
    first = c.assignee_id
    identity = (c.assignee_id, c.assigned_at.isoformat())
    assert commit(fire, c=c) == "moved"
    c.refresh_from_db()
    second = c.assignee_id
    assert second not in (None, first) and c.routing_attempts == 1
    e = RoutingEvent.objects.filter(conversation=c, kind="timeout").get()
    names = {bob.user_id: "Bob", carol.user_id: "Carol"}
    assert e.reason == f"timeout after 60 s, moved from {names[first]} to {names[second]}"
    # The same firing again (duplicate or late delivery) does nothing.
    assert (
        routing.accept_timeout_fire(
            merchant_id=acme.pk, conversation_id=c.pk, user_id=identity[0], assigned_at=identity[1]
        )
        == "noop"
    )
    # The second agent times out too: max_reassignments=1 -> back to the head of the queue.
    waiting = ask(factories.visitor(acme))
    Conversation.objects.filter(pk=waiting.pk).update(assignee=None, queued_at=timezone.now())
    assert commit(fire, c=c) == "returned"
    c.refresh_from_db()
    assert c.assignee_id is None and c.queued_at is not None and c.routing_attempts == 0
    rows, _ = selectors.queue_snapshot(merchant_id=acme.pk)
    assert rows[0].pk == c.pk
    assert notified[-1]["reason"] == "returned"
    assert set(notified[-1]["user_ids"]) == {alice.user_id}


def test_timeout_is_a_noop_once_the_agent_answered_or_the_conversation_moved(acme, bob, carol, ask):
    go_online(bob)
    c = ask(factories.visitor(acme))
    factories.agent_message(bob, c.pk, "您好")
    assert fire(c) == "noop"
    assert Conversation.objects.get(pk=c.pk).assignee_id == bob.user_id
    c2 = ask(factories.visitor(acme))
    stale = c2.assigned_at.isoformat()
    services.conversation_transfer(
        merchant_id=acme.pk,
        conversation_id=c2.pk,
        actor_user_id=bob.user_id,
        to_user_id=carol.user_id,
    )
    assert (
        routing.accept_timeout_fire(
            merchant_id=acme.pk, conversation_id=c2.pk, user_id=bob.user_id, assigned_at=stale
        )
        == "noop"
    )
    assert (
        routing.accept_timeout_fire(
            merchant_id=acme.pk, conversation_id=424242, user_id=bob.user_id, assigned_at=stale
        )
        == "noop"
    )


def test_timeout_with_nobody_else_queues_at_the_head(acme, bob, ask):
    go_online(bob)
    waiting_before = None
    c = ask(factories.visitor(acme))
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    waiting_before = ask(factories.visitor(acme))
    assert waiting_before.queued_at is not None
    assert fire(c) == "queued"
    rows, _ = selectors.queue_snapshot(merchant_id=acme.pk)
    assert [r.pk for r in rows] == [c.pk, waiting_before.pk]


# --- lifecycle and handover -----------------------------------------------------------------------


def test_auto_resolve_only_silent_conversations_nobody_waits_in(acme, bob, ask):
    acme.auto_resolve_minutes = 30
    acme.save()
    go_online(bob)
    answered, unanswered = ask(factories.visitor(acme)), ask(factories.visitor(acme))
    factories.agent_message(bob, answered.pk, "好的")
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=2)
    queued = ask(factories.visitor(acme))
    recent = ask(factories.visitor(acme))
    factories.agent_message(bob, recent.pk, "刚刚")
    old = timezone.now() - timedelta(minutes=31)
    Conversation.objects.filter(pk__in=[answered.pk, unanswered.pk, queued.pk]).update(
        last_message_at=old
    )
    assert routing.auto_resolve() == 1
    statuses = dict(Conversation.objects.values_list("id", "status"))
    assert statuses[answered.pk] == "resolved"
    assert statuses[unanswered.pk] == statuses[queued.pk] == statuses[recent.pk] == "open"
    assert last_event(answered).reason == "auto-resolved after 30 min of silence"
    assert routing.auto_resolve() == 0  # idempotent
    acme.auto_resolve_minutes = 0
    acme.save()
    Conversation.objects.filter(pk=recent.pk).update(last_message_at=old)
    assert routing.auto_resolve() == 0


def test_handover_clears_the_bot_and_routes(acme, bob, commit):
    go_online(bob)
    v = factories.visitor(acme)
    c = Conversation.objects.create(merchant=acme, visitor=v, bot_active=True)
    routing.visitor_message_received(
        merchant_id=acme.pk, conversation_id=c.pk, message_id=0, started=True, reopened=False
    )
    assert Conversation.objects.get(pk=c.pk).assignee_id is None  # the bot owns it
    commit(
        bot.conversation_handover,
        merchant_id=acme.pk,
        conversation_id=c.pk,
        reason="visitor_request",
    )
    c.refresh_from_db()
    assert not c.bot_active and c.handed_over_at and c.assignee_id == bob.user_id
    kinds = list(RoutingEvent.objects.filter(conversation=c).values_list("kind", "reason"))
    assert kinds[0] == ("handover", "the bot handed over: the visitor asked for a person")
    assert kinds[1][0] == "assigned"
    # Twice is once.
    bot.conversation_handover(merchant_id=acme.pk, conversation_id=c.pk, reason="x")
    assert RoutingEvent.objects.filter(conversation=c, kind="handover").count() == 1


def test_reasons_are_rendered_in_the_merchant_language(acme, bob, ask, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    c = ask(factories.visitor(acme))
    # Until the lead compiles locale/zh_hans_routing.py the msgid is shown; either way the
    # reason is a finished sentence, not a template.
    assert "%(" not in last_event(c).reason


def test_sweep_fires_lost_timeouts_and_drains(acme, bob, carol, ask, commit):
    acme.accept_timeout_seconds, acme.sticky_agent = 60, False
    acme.save()
    go_online(bob)
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    c = ask(factories.visitor(acme))  # its timeout task is "lost": nobody runs it
    queued = ask(factories.visitor(acme))
    assert c.assignee_id == bob.user_id and queued.queued_at is not None
    assert commit(routing.sweep) == 0  # not overdue yet, nobody free
    go_online(carol)
    Membership.objects.filter(pk=carol.pk).update(max_concurrent=1)
    # 95 s later (timeout 60 s + 30 s grace): bob's is moved to carol; the queue then gets bob,
    # who has a free slot again (the sweep does not know he is silent elsewhere).
    assert commit(routing.sweep, now=timezone.now() + timedelta(seconds=95)) == 2
    c.refresh_from_db(), queued.refresh_from_db()
    assert c.assignee_id == carol.user_id and last_event(c).kind == "timeout"
    assert queued.assignee_id == bob.user_id


def test_beat_runs_the_routing_tasks_every_minute():
    from kefu.celery import app

    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    for name, task in (
        ("routing-auto-resolve", "conversations.tasks.routing_auto_resolve"),
        ("routing-sweep", "conversations.tasks.routing_sweep"),
    ):
        assert schedule[name]["task"] == task and task in app.tasks
        assert schedule[name]["schedule"] == 60.0
    assert "conversations.tasks.routing_accept_timeout" in app.tasks
