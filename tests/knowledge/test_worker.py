"""A real Celery worker: a burst of KB changes is trained once, after the debounce; a large import
runs in the worker with progress on its job row. Broker: Redis when REDIS_URL is set, else the
filesystem broker."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from kefu.celery import app as celery_app
from knowledge import services
from knowledge.models import BotModel, Faq, ImportJob
from merchants.models import Merchant
from tests.conftest import ROOT, child_env

pytestmark = pytest.mark.live


@pytest.fixture
def worker(transactional_db, tmp_path):
    queue = f"kefutest-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "kefu", "worker", "-Q", queue, "--pool=solo",
         "--loglevel=INFO", "--without-mingle", "--without-gossip", "-n", f"{queue}@%h"],
        cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("celery worker did not start:\n" + log_path.read_text())
        time.sleep(0.2)
    yield log_path
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    celery_app.conf.task_default_queue = previous


def wait_for(condition, log_path, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out; worker log:\n" + log_path.read_text()
        time.sleep(0.2)


def test_burst_of_changes_trains_once_after_the_debounce(acme, settings, worker):
    settings.KB_TRAIN_DEBOUNCE_SECONDS = 3
    started = time.monotonic()
    for i in range(4):
        services.faq_create(merchant_id=acme.pk, question=f"问题 {i}", answer=f"答案 {i}")
    final = Merchant.objects.get(pk=acme.pk).kb_version
    time.sleep(1.5)
    assert not BotModel.objects.exists(), "trained inside the debounce window"

    wait_for(lambda: BotModel.objects.filter(merchant=acme).exists(), worker)
    assert time.monotonic() - started >= 3
    time.sleep(1.0)  # the other three runs fire at about the same time; they must skip
    assert list(BotModel.objects.filter(merchant=acme).values_list("kb_version", flat=True)) == [final]
    log = worker.read_text()
    assert log.count("knowledge.tasks.kb_train_task") >= 4  # all four ran (and three skipped)


def test_large_import_runs_in_the_worker_with_progress(acme, settings, worker):
    settings.KB_IMPORT_INLINE_MAX_ROWS = 100
    settings.KB_TRAIN_DEBOUNCE_SECONDS = 3600  # keep training out of this test
    rows = "".join(f"问题{i},答案{i}\n" for i in range(2500))
    job = services.kb_import_submit(merchant=acme, kind="faqs", fmt="csv",
                                    file=("question,answer\n" + rows).encode(), filename="big.csv")
    assert isinstance(job, ImportJob)

    wait_for(lambda: ImportJob.objects.get(pk=job.pk).status in ("done", "failed"), worker)
    job.refresh_from_db()
    assert job.status == "done", job.result
    assert job.result["created"] == 2500 and job.result["error_count"] == 0
    assert (job.done_rows, job.total_rows) == (2500, 2500)
    assert job.data == b"" or bytes(job.data) == b""  # the upload is not kept
    assert Faq.objects.filter(merchant=acme).count() == 2500
