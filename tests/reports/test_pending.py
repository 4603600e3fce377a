"""The incremental rollup coalesces (docs/reports.md, "Incremental"): the facts of one day that
come before its queued rebuild starts are counted by that one rebuild; a fact after the start
queues the next; a pending day whose task was lost is rebuilt by the sweep. With a real worker,
a burst of new conversations costs a few rebuilds, not one per fact, and the figures are
exact."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from conversations.models import Conversation
from reports import rollup
from reports.models import DayFigures, PendingRollup
from tests import factories

from .test_worker import figures_of_today, wait_for


def _today(merchant) -> dt.date:
    return timezone.localtime(timezone.now(), rollup.merchant_zone(merchant)).date()


def _conversation(merchant):
    return factories.visitor_message(factories.visitor(merchant)).conversation


def test_facts_of_a_day_share_the_rebuild_queued_for_it(acme, other):
    first, second = _conversation(acme), _conversation(acme)
    foreign = _conversation(other)
    PendingRollup.objects.all().delete()  # the facts above queued theirs; start from none
    request = rollup.day_rollup_request
    assert request(merchant_id=acme.pk, conversation_id=first.pk) is True
    assert request(merchant_id=acme.pk, conversation_id=second.pk) is False  # already queued
    assert request(merchant_id=other.pk, conversation_id=foreign.pk) is True  # its own day
    assert request(merchant_id=other.pk, conversation_id=first.pk) is False  # not its conversation
    assert PendingRollup.objects.filter(merchant=acme).count() == 1

    assert rollup.pending_rollup(merchant_id=acme.pk, day=_today(acme)) is True
    assert figures_of_today(acme).started == 2  # one rebuild counted both facts' conversations
    assert not PendingRollup.objects.filter(merchant=acme).exists()
    assert PendingRollup.objects.filter(merchant=other).count() == 1  # the other merchant's waits
    # Done once: a second run of the same task finds nothing pending; a new fact queues again.
    assert rollup.pending_rollup(merchant_id=acme.pk, day=_today(acme)) is False
    assert request(merchant_id=acme.pk, conversation_id=first.pk) is True


def test_the_sweep_rebuilds_a_pending_day_whose_task_was_lost(acme):
    _conversation(acme)
    DayFigures.objects.all().delete()
    PendingRollup.objects.all().delete()
    rollup.day_rollup_request(merchant_id=acme.pk, conversation_id=Conversation.objects.get().pk)
    # Within its delay and grace the sweep leaves it to its task...
    rollup.rollup_sweep()
    assert PendingRollup.objects.filter(merchant=acme).exists()
    # ...past them (the task lost, the broker down) it rebuilds the day itself.
    PendingRollup.objects.update(requested_at=timezone.now() - dt.timedelta(minutes=5))
    rollup.rollup_sweep()
    assert not PendingRollup.objects.exists()
    assert figures_of_today(acme).started == 1


def test_a_burst_of_new_conversations_costs_a_few_rebuilds(start_celery_worker, acme):
    worker = start_celery_worker(REPORTS_ROLLUP_DELAY="1")
    burst = 30
    for _ in range(burst):
        _conversation(acme)
    wait_for(lambda: (f := figures_of_today(acme)) is not None and f.started == burst)
    wait_for(lambda: not PendingRollup.objects.exists())
    log = worker.log()
    facts = len(re.findall(r"reports\.tasks\.event_rollup\[[^\]]+\] succeeded", log))
    rebuilds = len(re.findall(r"reports\.tasks\.pending_rollup\[[^\]]+\] succeeded", log))
    assert facts >= burst  # one per conversation started (more once some are routed)
    assert 1 <= rebuilds <= 5, (facts, rebuilds)
    assert figures_of_today(acme).waiting == burst
