"""Capacity and away changes serve the queue: merchants.services sends `capacity_freed` after
the commit and conversations (ConversationsConfig.ready) drains the queue. merchants sits below
conversations and never imports it."""

import asyncio

import pytest

from conversations import presence
from conversations.models import RoutingEvent
from merchants import services
from merchants.models import Membership, Merchant
from merchants.signals import capacity_freed
from tests import factories
from tests.conversations.realtime_helpers import fresh_realtime  # noqa: F401 (autouse)


def go_online(membership: Membership) -> None:
    asyncio.run(presence.agent_socket_up(membership.merchant_id, membership.user_id, "test-socket"))


@pytest.fixture
def sent():
    """The merchant ids capacity_freed was sent for, in order."""
    calls = []

    def spy(sender, *, merchant_id, **kwargs):
        calls.append(merchant_id)

    capacity_freed.connect(spy, dispatch_uid="tests.merchants.spy")
    yield calls
    capacity_freed.disconnect(dispatch_uid="tests.merchants.spy")


@pytest.fixture
def waiting(acme, alice, bob, django_capture_on_commit_callbacks):
    """bob online with capacity 1 and one conversation; a second visitor waits in the queue.
    (alice, the owner, is away; no acceptance timeouts are scheduled.)"""
    Merchant.objects.filter(pk=acme.pk).update(accept_timeout_seconds=0)
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    Membership.objects.filter(pk=alice.pk).update(is_away=True)
    go_online(bob)
    with django_capture_on_commit_callbacks(execute=True):
        first = factories.visitor_message(factories.visitor(acme), "一").conversation
    with django_capture_on_commit_callbacks(execute=True):
        queued = factories.visitor_message(factories.visitor(acme), "二").conversation
    first.refresh_from_db()
    queued.refresh_from_db()
    assert first.assignee_id == bob.user_id
    assert queued.assignee_id is None and queued.queued_at is not None
    return queued


@pytest.mark.django_db
def test_raising_capacity_serves_the_queue_after_the_commit(
    bob, waiting, sent, django_capture_on_commit_callbacks
):
    membership = Membership.objects.get(pk=bob.pk)
    membership.max_concurrent = 2
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.membership_update(membership=membership)
    # Nothing before the commit: the router must see the new capacity.
    assert sent == []
    waiting.refresh_from_db()
    assert waiting.assignee_id is None
    for callback in callbacks:
        callback()
    assert sent == [bob.merchant_id]
    waiting.refresh_from_db()
    assert waiting.assignee_id == bob.user_id and waiting.queued_at is None
    assert RoutingEvent.objects.filter(conversation=waiting, kind="assigned").exists()


@pytest.mark.django_db
def test_coming_back_from_away_serves_the_queue(
    acme, bob, waiting, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_set_away(merchant_id=acme.pk, user_id=bob.user_id, away=True)
    assert sent == []
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=2)  # a raw update: no signal
    waiting.refresh_from_db()
    assert waiting.assignee_id is None
    with django_capture_on_commit_callbacks(execute=True):
        membership = services.membership_set_away(
            merchant_id=acme.pk, user_id=bob.user_id, away=False
        )
    assert membership.is_away is False
    assert sent == [acme.pk]
    waiting.refresh_from_db()
    assert waiting.assignee_id == bob.user_id
    # Already available: nothing changed, nothing sent.
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_set_away(merchant_id=acme.pk, user_id=bob.user_id, away=False)
    assert sent == [acme.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, frees",
    [
        ({"max_concurrent": 6}, True),
        ({"max_concurrent": 4}, False),
        ({"is_away": False}, True),
        ({"is_active": True}, True),
        ({"phone": "+8613800000000"}, False),
        ({"teams": True}, True),
    ],
)
def test_which_edits_free_capacity(
    acme, bob, sent, change, frees, django_capture_on_commit_callbacks
):
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=5, is_away=True, is_active=False)
    if "is_away" not in change:
        Membership.objects.filter(pk=bob.pk).update(is_away=False)
    if "is_active" not in change:
        Membership.objects.filter(pk=bob.pk).update(is_active=True)
    membership = Membership.objects.get(pk=bob.pk)
    teams_changed = change.pop("teams", False)
    for field, value in change.items():
        setattr(membership, field, value)
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_update(membership=membership, teams_changed=teams_changed)
    assert sent == ([acme.pk] if frees else [])
    stored = Membership.objects.get(pk=bob.pk)
    for field, value in change.items():
        assert getattr(stored, field) == value


@pytest.mark.django_db
def test_a_rolled_back_change_sends_nothing(bob, sent, django_capture_on_commit_callbacks):
    from django.db import transaction

    membership = Membership.objects.get(pk=bob.pk)
    membership.max_concurrent += 3
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                services.membership_update(membership=membership)
                raise RuntimeError("the admin's transaction fails later")
    assert sent == []
