"""Run the whole product on one machine: daphne (HTTP + WebSocket) and a Celery worker with
its beat scheduler, as child processes. Ctrl-C stops both; if either dies, the other is stopped
too, so a half-running system never hides."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from kefu.processes import stop_processes


class Command(BaseCommand):
    help = "Start daphne and the Celery worker (with beat) together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args, host, port, no_worker, **options):
        commands = [
            # No access log: daphne's prints every client's address (docs/security.md,
            # "Customer data").
            [
                sys.executable,
                "-m",
                "daphne",
                "--access-log",
                os.devnull,
                "--websocket_connect_timeout",
                "20",  # docs/realtime.md pitfall 11
                "-b",
                host,
                "-p",
                str(port),
                "kefu.asgi:application",
            ]
        ]
        if not no_worker:
            commands.append(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "kefu",
                    "worker",
                    "--beat",
                    "--loglevel=INFO",
                    "--concurrency=2",
                    f"--schedule={settings.VAR_DIR / 'celerybeat-schedule'}",
                ]
            )
        procs = [subprocess.Popen(cmd) for cmd in commands]
        self.stdout.write(f"Serving on http://{host}:{port}/  (Ctrl-C to stop)")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            stop_processes(procs)
        failed = [p for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            sys.exit(1)
