"""A real Celery worker process for tests (the `start_celery_worker` fixture in tests/conftest.py).

Each worker consumes a queue of its own: this test process queues there (task_default_queue)
and so does every child started with `worker.env` (CELERY_QUEUE), so no other run's worker
takes our tasks and ours never takes theirs. Broker: whatever the settings say (Redis with
REDIS_URL, else the filesystem broker under KEFU_VAR_DIR).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from kefu.celery import app as celery_app
from kefu.processes import stop_processes

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0


class CeleryWorker:
    def __init__(self, log_path: Path, env: dict[str, str]):
        self.queue = env["CELERY_QUEUE"]
        self.env = env
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "kefu",
                "worker",
                "-Q",
                self.queue,
                "--pool=solo",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{self.queue}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while b"ready." not in log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("celery worker did not start:\n" + self.log())
            time.sleep(0.2)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, condition, timeout: float, message: str = "timed out") -> None:
        """Poll `condition` until true; on timeout fail with the worker's log."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"{message}; worker log:\n{self.log()}"
            time.sleep(0.2)

    def stop(self) -> None:
        stop_processes(
            [self.proc], timeout=15
        )  # SIGTERM: warm shutdown, a running task finishes first
        self._log.close()


def worker_factory(tmp_path: Path, child_env):
    """Generator behind the fixture: yields start(**env) -> CeleryWorker, stops every worker
    it started (also when the test failed) and restores this process's default queue."""
    workers: list[CeleryWorker] = []
    previous = celery_app.conf.task_default_queue

    def start(**extra_env) -> CeleryWorker:
        queue = f"kefutest-{uuid.uuid4().hex[:8]}"
        celery_app.conf.task_default_queue = queue
        env = child_env(CELERY_QUEUE=queue, **extra_env)
        workers.append(CeleryWorker(tmp_path / f"worker-{len(workers)}.log", env))
        return workers[-1]

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
            if settings.CELERY_BROKER_URL.startswith("redis"):
                import redis  # what a stopped worker left queued (countdowns) goes with it

                redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(worker.queue)
        celery_app.conf.task_default_queue = previous
