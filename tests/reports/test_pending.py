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
from reports.models import DayFigures, PendingRollup, RollupState
from tests import factories

from .test_worker import figures_of_today, wait_for


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
    day = PendingRollup.objects.get(merchant=acme).day

    assert rollup.pending_rollup(merchant_id=acme.pk, day=day) is True
    assert figures_of_today(acme).started == 2  # one rebuild counted both facts' conversations
    assert not PendingRollup.objects.filter(merchant=acme).exists()
    assert PendingRollup.objects.filter(merchant=other).count() == 1  # the other merchant's waits
    # Done once: a second run of the same task finds nothing pending; a new fact queues again.
    assert rollup.pending_rollup(merchant_id=acme.pk, day=day) is False
    assert request(merchant_id=acme.pk, conversation_id=first.pk) is True


def test_the_sweep_rebuilds_a_pending_day_whose_task_was_lost(acme):
    _conversation(acme)
    DayFigures.objects.all().delete()
    PendingRollup.objects.all().delete()
    rollup.day_rollup_request(merchant_id=acme.pk, conversation_id=Conversation.objects.get().pk)
    # Within its delay and grace the sweep leaves it to its task...
    rollup.rollup_sweep()
    assert PendingRollup.objects.filter(merchant=acme).exists()
    # ...past them (the task lost, the broker down) it rebuilds the day itself: its own pass
    # over the facts is made to find nothing, so only the pending row can bring the day back.
    DayFigures.objects.all().delete()
    RollupState.objects.update(swept_until=timezone.now() + dt.timedelta(hours=1))
    PendingRollup.objects.update(requested_at=timezone.now() - dt.timedelta(minutes=5))
    assert rollup.rollup_sweep() == 1
    assert not PendingRollup.objects.exists()
    assert figures_of_today(acme).started == 1


def test_a_burst_of_new_conversations_costs_a_few_rebuilds(start_celery_worker, acme):
    worker = start_celery_worker(REPORTS_ROLLUP_DELAY="1")
    burst = 30
    for _ in range(burst):
        _conversation(acme)

    def count(task):
        return len(re.findall(rf"reports\.tasks\.{task}\[[^\]]+\] succeeded", worker.log()))

    wait_for(lambda: (f := figures_of_today(acme)) is not None and f.started == burst)
    # The log line comes after the commit the figures are read from.
    wait_for(lambda: not PendingRollup.objects.exists() and count("pending_rollup") >= 1)
    facts, rebuilds = count("event_rollup"), count("pending_rollup")
    assert facts >= burst  # one per conversation started
    # One per fact without the coalescing; a few with it, however slow the machine.
    assert rebuilds <= facts // 4, (facts, rebuilds)
    assert figures_of_today(acme).waiting == burst
