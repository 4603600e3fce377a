"""A real Celery worker: a burst of KB changes is trained once, after the debounce; a large import
runs in the worker with progress on its job row. Broker: Redis when REDIS_URL is set, else the
filesystem broker."""

from __future__ import annotations

import time

import pytest

from knowledge import importers, services
from knowledge.models import BotModel, Faq, ImportJob
from merchants.models import Merchant

pytestmark = pytest.mark.live


def test_burst_of_changes_trains_once_after_the_debounce(acme, settings, start_celery_worker):
    worker = start_celery_worker()
    settings.KB_TRAIN_DEBOUNCE_SECONDS = 3
    started = time.monotonic()
    for i in range(4):
        services.faq_create(merchant_id=acme.pk, question=f"问题 {i}", answer=f"答案 {i}")
    final = Merchant.objects.get(pk=acme.pk).kb_version
    time.sleep(1.5)
    assert not BotModel.objects.exists(), "trained inside the debounce window"

    worker.wait_for(lambda: BotModel.objects.filter(merchant=acme).exists(), 60)
    assert time.monotonic() - started >= 3
    time.sleep(1.0)  # the other three runs fire at about the same time; they must skip
    assert list(BotModel.objects.filter(merchant=acme).values_list("kb_version", flat=True)) == [
        final
    ]
    log = worker.log()
    assert log.count("knowledge.tasks.kb_train_task") >= 4  # all four ran (and three skipped)


def test_large_import_runs_in_the_worker_with_progress(acme, settings, start_celery_worker):
    # Keep training out of this test, also the run the import itself queues in the worker.
    worker = start_celery_worker(KB_TRAIN_DEBOUNCE_SECONDS="3600")
    settings.KB_IMPORT_INLINE_MAX_ROWS = 100
    settings.KB_TRAIN_DEBOUNCE_SECONDS = 3600
    rows = "".join(f"问题{i},答案{i}\n" for i in range(2500))
    job = importers.kb_import_submit(
        merchant=acme,
        kind="faqs",
        fmt="csv",
        file=("question,answer\n" + rows).encode(),
        filename="big.csv",
    )
    assert isinstance(job, ImportJob)

    worker.wait_for(lambda: ImportJob.objects.get(pk=job.pk).status in ("done", "failed"), 60)
    job.refresh_from_db()
    assert job.status == "done", job.result
    assert job.result["created"] == 2500 and job.result["error_count"] == 0
    assert (job.done_rows, job.total_rows) == (2500, 2500)
    assert job.data == b"" or bytes(job.data) == b""  # the upload is not kept
    assert Faq.objects.filter(merchant=acme).count() == 2500
