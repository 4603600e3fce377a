"""A real Celery worker keeps the rollups current from the facts the services record: no
sweep, no manual rebuild; the figures equal a direct count."""

from __future__ import annotations

import time

import pytest

from conversations.models import Conversation
from reports import rollup, selectors
from reports.models import DayFigures
from tests import factories

from . import data


def wait_for(predicate, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail("the worker did not roll the facts up in time")


def figures_of_today(merchant):
    return DayFigures.objects.filter(merchant=merchant, dimension="all").first()


def test_the_worker_rolls_up_each_recorded_fact(start_celery_worker, acme, bob):
    worker = start_celery_worker(REPORTS_ROLLUP_DELAY="0.5")
    visitor = factories.visitor(acme, name="访客")
    conversation = factories.visitor_message(visitor).conversation
    wait_for(lambda: (f := figures_of_today(acme)) is not None and f.started == 1)
    assert figures_of_today(acme).waiting == 1

    factories.agent_message(bob, conversation.pk, "您好，请问有什么可以帮您？")
    wait_for(lambda: figures_of_today(acme).answered == 1)
    row = figures_of_today(acme)
    assert (row.waiting, row.missed) == (0, 0)

    day = row.day
    period = selectors.Period(day, day)
    summary = selectors.report_summary(merchant_id=acme.pk, period=period)["current"]
    expected = data.direct(acme, day, day)[""]
    assert summary["first_response_median"] == expected["first_response_median"] is not None
    assert summary["started"] == Conversation.objects.filter(merchant=acme).count() == 1
    by_agent = selectors.report_breakdown(merchant_id=acme.pk, period=period, by="agent")
    assert [(r["name"], r["answered"]) for r in by_agent] == [("Bob", 1)]
    assert "reports.tasks.event_rollup" in worker.log()
    # A rebuild gives the rows the worker wrote.
    before = list(DayFigures.objects.filter(merchant=acme).order_by("dimension", "key").values())
    rollup.days_rollup(merchant_id=acme.pk, start=day, end=day)
    after = list(DayFigures.objects.filter(merchant=acme).order_by("dimension", "key").values())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]
    assert strip(after) == strip(before)
