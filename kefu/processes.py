"""Stopping child processes (kefu_serve's servers, the benchmark's stack, the tests' daphne and
Celery workers) the same way everywhere."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop_processes(procs: Iterable[subprocess.Popen], timeout: float = 10) -> None:
    """SIGTERM every process still running (all at once, so they shut down in parallel), wait
    up to `timeout` seconds for each, then SIGKILL what is left and reap it."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
