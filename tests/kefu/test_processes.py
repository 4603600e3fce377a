"""kefu.processes.stop_processes: what kefu_serve, the benchmark stack and the test servers use
to stop their children."""

import subprocess
import sys
import time

from kefu.processes import stop_processes


def child(code: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"  # its signal handler is installed
    return proc


def test_terminates_all_and_kills_one_that_ignores_sigterm():
    polite = child("import sys, time; print('up', flush=True); time.sleep(60)")
    stubborn = child(
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    started = time.monotonic()
    stop_processes([stubborn, polite, done], timeout=1)
    assert polite.returncode == -15  # SIGTERM
    assert stubborn.returncode == -9  # SIGKILL after the timeout
    assert done.returncode == 0  # already gone: left alone
    # All were signalled before waiting: the polite one did not wait behind the stubborn one.
    assert time.monotonic() - started < 4
