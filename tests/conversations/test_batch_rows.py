"""The batch path's hand-written reads (conversations.services.rows) give the rows the ORM
gives: the same instances, value by value and type by type (aware datetimes, JSON, booleans),
only the rows asked for, in id order, locked until the commit."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from conversations.models import Conversation, Visitor
from conversations.services import rows
from tests import factories
from tests.conftest import require_mysql


def _values(instance) -> list:
    return [
        (field.attname, type(value), value)
        for field in type(instance)._meta.concrete_fields
        for value in [getattr(instance, field.attname)]
    ]


def test_visitors_come_back_as_the_orm_reads_them_in_id_order(acme, other):
    blocked = factories.visitor(acme, name="王小明")
    Visitor.objects.filter(pk=blocked.pk).update(
        attributes={"plan": "专业版", "seats": 3}, blocked_at=timezone.now()
    )
    plain = factories.visitor(acme)
    foreign = factories.visitor(other)
    with transaction.atomic():
        got = rows.visitors_lock([plain.pk, blocked.pk])
    assert [v.pk for v in got] == sorted([plain.pk, blocked.pk])
    with transaction.atomic():  # any visitor by id: the caller compares merchants (messages.py)
        assert [v.merchant_id for v in rows.visitors_lock([foreign.pk])] == [other.pk]
    for visitor in got:
        assert _values(visitor) == _values(Visitor.objects.get(pk=visitor.pk))
        assert visitor._state.adding is False
    assert got[[v.pk for v in got].index(blocked.pk)].blocked_at.tzinfo is not None
    with transaction.atomic():
        assert rows.visitors_lock([]) == []


def test_only_the_visitors_open_conversations_come_back_as_the_orm_reads_them(acme):
    visitor, other = factories.visitor(acme), factories.visitor(acme)
    closed = factories.visitor_message(visitor, "旧的").conversation
    Conversation.objects.filter(pk=closed.pk).update(status=Conversation.Status.CLOSED)
    factories.visitor_message(visitor, "新的")
    factories.visitor_message(other, "别人的")
    Conversation.objects.filter(visitor=visitor).exclude(pk=closed.pk).update(
        bot_active=True,
        bot_state={"slot": "订单号"},
        queued_at=timezone.now(),
        status=Conversation.Status.RESOLVED,
    )
    with transaction.atomic():
        got = rows.open_conversations_lock([visitor.pk])
    expected = list(
        Conversation.objects.filter(visitor=visitor)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("pk")
    )
    assert [c.pk for c in got] == [c.pk for c in expected] and len(got) == 1
    assert _values(got[0]) == _values(expected[0])
    assert got[0].bot_active is True and got[0].bot_state == {"slot": "订单号"}
    with transaction.atomic():
        assert rows.open_conversations_lock([]) == []


@pytest.mark.django_db(transaction=True)
def test_the_reads_hold_the_row_locks_until_the_commit(acme):
    require_mysql()  # SQLite has no row locks
    visitor = factories.visitor(acme)
    conversation = factories.visitor_message(visitor).conversation
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def batch():
        try:
            with transaction.atomic():
                rows.visitors_lock([visitor.pk])
                rows.open_conversations_lock([visitor.pk])
                holding.set()
                release.wait(10)
        finally:
            connection.close()
            done.set()

    threading.Thread(target=batch).start()
    assert holding.wait(10)
    try:
        for model, pk in ((Visitor, visitor.pk), (Conversation, conversation.pk)):
            with pytest.raises(OperationalError), transaction.atomic():
                list(model.objects.select_for_update(nowait=True).filter(pk=pk))
    finally:
        release.set()
        assert done.wait(10)
    with transaction.atomic():  # free again after the commit
        assert list(Visitor.objects.select_for_update(nowait=True).filter(pk=visitor.pk))
