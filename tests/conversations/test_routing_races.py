"""Races with real MariaDB row locks: threads with their own connections.

- Two claims of one conversation: one wins, the other waits on the row lock and then gets
  ALREADY_ASSIGNED.
- Two routers filling one agent's last slot: the second waits on the membership lock, re-reads
  the open count and queues instead of over-filling.
- Visitor messages, agent replies and routing actions on one conversation at once: no deadlock.

SQLite has no row locks, so these skip loudly there (and fail in CI, KEFU_REQUIRE_SERVICES=1).
"""

import threading
import time

import pytest
from django.db import OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from conversations import routing, selectors, services
from conversations.models import Conversation, RoutingEvent
from kefu.errors import KefuError
from merchants.models import Membership
from tests import factories
from tests.conftest import require_mysql
from tests.conversations.routing_helpers import (  # noqa: F401 (english, fresh_realtime: autouse)
    english,
    fresh_realtime,
    go_online,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def mysql_only(transactional_db):
    require_mysql()


def in_thread(fn, results, key):
    def target():
        try:
            results[key] = ("ok", fn())
        except Exception as exc:
            results[key] = ("error", exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def queued_conversation(merchant):
    visitor = factories.visitor(merchant)
    return Conversation.objects.create(merchant=merchant, visitor=visitor, queued_at=timezone.now())


def test_claim_waits_on_the_row_lock_and_loses(acme, alice, bob):
    c = queued_conversation(acme)
    holding, release = threading.Event(), threading.Event()
    results = {}

    def slow_claimer():
        # Alice's claim, paused while it holds the conversation row.
        with transaction.atomic():
            locked = services.conversation_lock(merchant_id=acme.pk, conversation_id=c.pk)
            holding.set()
            release.wait(10)
            services.conversation_claim_locked(
                locked, membership=Membership.objects.get(pk=alice.pk)
            )
        return "alice"

    a = in_thread(slow_claimer, results, "alice")
    assert holding.wait(10)
    b = in_thread(
        lambda: services.conversation_claim(
            merchant_id=acme.pk, conversation_id=c.pk, user_id=bob.user_id
        ),
        results,
        "bob",
    )
    time.sleep(0.7)
    assert "bob" not in results, "bob's claim did not wait for the row lock"
    release.set()
    a.join(15), b.join(15)
    assert results["alice"] == ("ok", "alice")
    status, exc = results["bob"]
    assert status == "error" and isinstance(exc, KefuError) and exc.code == "already_assigned"
    assert Conversation.objects.get(pk=c.pk).assignee_id == alice.user_id


def test_many_simultaneous_claims_have_one_winner(acme):
    agents = [factories.member(acme, f"agent{i}") for i in range(8)]
    for _round in range(3):
        c = queued_conversation(acme)
        barrier = threading.Barrier(len(agents))
        results = {}

        def claim(m):
            barrier.wait(10)
            return services.conversation_claim(
                merchant_id=acme.pk, conversation_id=c.pk, user_id=m.user_id
            ).assignee_id

        threads = [in_thread(lambda m=m: claim(m), results, m.user_id) for m in agents]
        for t in threads:
            t.join(30)
        wins = [k for k, (s, _) in results.items() if s == "ok"]
        losses = [v for s, v in results.values() if s == "error"]
        assert len(wins) == 1, results
        assert all(isinstance(e, KefuError) and e.code == "already_assigned" for e in losses), (
            losses
        )
        assert Conversation.objects.get(pk=c.pk).assignee_id == wins[0]
        assert RoutingEvent.objects.filter(conversation=c, kind="claimed").count() == 1


def test_second_router_waits_for_the_membership_lock_and_does_not_overfill(acme, bob):
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    go_online(bob)
    first, second = queued_conversation(acme), queued_conversation(acme)
    Conversation.objects.filter(pk__in=[first.pk, second.pk]).update(queued_at=None)
    holding, release = threading.Event(), threading.Event()
    results = {}

    def slow_router():
        # A router that has taken bob's last slot and has not committed yet.
        with transaction.atomic():
            locked = services.conversation_lock(merchant_id=acme.pk, conversation_id=first.pk)
            picked = routing._route(locked, merchant=acme)
            assert picked is not None and picked[0].user_id == bob.user_id
            routing._assign(locked, picked[0], picked[3])
            holding.set()
            release.wait(10)
        return "assigned"

    a = in_thread(slow_router, results, "a")
    assert holding.wait(10)
    # The second router read bob as free (1 slot, 0 open committed) before the first commits.
    assert selectors.eligible_agents(merchant_id=acme.pk)[0].open == 0
    b = in_thread(
        lambda: routing.visitor_message_received(
            merchant_id=acme.pk,
            conversation_id=second.pk,
            message_id=0,
            started=True,
            reopened=False,
        ),
        results,
        "b",
    )
    time.sleep(0.7)
    assert "b" not in results, "the second router did not wait for bob's membership lock"
    release.set()
    a.join(15), b.join(15)
    assert results["a"] == ("ok", "assigned") and results["b"][0] == "ok", results
    first.refresh_from_db(), second.refresh_from_db()
    assert first.assignee_id == bob.user_id
    assert second.assignee_id is None and second.queued_at is not None
    assert Conversation.objects.filter(assignee=bob.user, status="open").count() == 1


def test_simultaneous_routers_never_exceed_capacity(acme, bob, carol_and_dave):
    carol, dave = carol_and_dave
    for m in (bob, carol, dave):
        Membership.objects.filter(pk=m.pk).update(max_concurrent=2)
        go_online(m)
    conversations = [queued_conversation(acme) for _ in range(12)]
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(queued_at=None)
    barrier = threading.Barrier(len(conversations))
    results = {}

    def route(c):
        barrier.wait(10)
        routing.visitor_message_received(
            merchant_id=acme.pk, conversation_id=c.pk, message_id=0, started=True, reopened=False
        )

    threads = [in_thread(lambda c=c: route(c), results, c.pk) for c in conversations]
    for t in threads:
        t.join(60)
    assert all(s == "ok" for s, _ in results.values()), results
    for m in (bob, carol, dave):
        assert Conversation.objects.filter(assignee_id=m.user_id, status="open").count() == 2
    assert (
        Conversation.objects.filter(
            merchant=acme, queued_at__isnull=False, assignee__isnull=True
        ).count()
        == 6
    )


@pytest.fixture
def carol_and_dave(acme):
    return factories.member(acme, "carol"), factories.member(acme, "dave")


@pytest.mark.slow  # more than ~2 s of waiting on timers
def test_visitor_agent_and_router_on_one_conversation_do_not_deadlock(acme, alice, bob):
    go_online(bob), go_online(alice)
    visitor = factories.visitor(acme)
    c = factories.visitor_message(visitor, "start").conversation
    stop = time.monotonic() + 6
    results, errors = {}, []

    def loop(step):
        i = 0
        while time.monotonic() < stop:
            i += 1
            try:
                step(i)
            except KefuError:
                pass  # refusals (already assigned, closed) are fine; deadlocks are not
            except OperationalError as exc:
                errors.append(exc)
            close_old_connections()
        return i

    def visitor_step(i):
        services.message_send_by_visitor(
            merchant_id=acme.pk, visitor_id=visitor.pk, client_msg_id=f"v{i}", body=f"visitor {i}"
        )

    def agent_step(i):
        services.message_send_by_agent(
            merchant_id=acme.pk,
            conversation_id=c.pk,
            sender=services.Sender.agent(bob),
            client_msg_id=f"b{i}",
            body=f"bob {i}",
        )

    def router_step(i):
        action = i % 4
        if action == 0:
            services.conversation_set_status(
                merchant_id=acme.pk,
                conversation_id=c.pk,
                actor_user_id=alice.user_id,
                status="resolved",
            )
        elif action == 1:
            services.conversation_transfer(
                merchant_id=acme.pk,
                conversation_id=c.pk,
                actor_user_id=alice.user_id,
                to_user_id=bob.user_id,
            )
        elif action == 2:
            services.conversation_claim(
                merchant_id=acme.pk, conversation_id=c.pk, user_id=alice.user_id
            )
        else:
            routing.queue_drain(merchant_id=acme.pk)

    threads = [
        in_thread(lambda s=s: loop(s), results, s.__name__)
        for s in (visitor_step, agent_step, router_step)
    ]
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert all(s == "ok" and v > 3 for s, v in results.values()), results
    seqs = list(c.messages.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
