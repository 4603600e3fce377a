"""Settings for the test run: the product's settings plus what only tests want.

pytest.ini names this module (DJANGO_SETTINGS_MODULE), and pytest-django exports it to the
environment, so the processes the tests start (daphne, Celery workers, bench scripts) read it too:
a user created in the test process signs in on the daphne process with the same hasher.
(pytest-django prefers a DJANGO_SETTINGS_MODULE already in the environment over pytest.ini.)
"""

import os
import sys
import uuid
from pathlib import Path

# pytest-xdist (`make test` runs the suite in several worker processes): each worker gets a
# KEFU_VAR_DIR and a Redis key prefix of its own, set here before the product's settings read
# them, so the SQLite file, the filesystem Celery broker, uploads, presence keys, channel groups
# and cache entries of one worker never meet another's (row ids repeat across the workers' test
# databases, so "merchant 1" exists in each). The processes a test starts inherit the environment
# and so the same values; KEFU_TEST_WORKER makes this run once per worker, not again in them.
# The test database itself gets its "_gwN" suffix from pytest-django.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and os.environ.get("KEFU_TEST_WORKER") != _worker:
    os.environ["KEFU_TEST_WORKER"] = _worker
    _var = os.environ.get("KEFU_VAR_DIR") or Path(__file__).resolve().parent.parent / "var"
    os.environ["KEFU_VAR_DIR"] = str(Path(_var) / f"xdist-{_worker}")
# Each run's Redis keys are its own too: the test databases are made anew for every run, so
# their ids start at 1 again, and the keys of the last run's merchant 1 (a rate limit's count,
# the transcripts asked for in the hour, a knowledge base's change time, a webhook fan-out's
# debounce) were this run's merchant 1's; runs one after another on one Redis failed on them
# (the fourth within an hour found its transcript requests over the limit). KEFU_TEST_RUN names
# the run (set here; tests/conftest.py adds a worker's name). Only pytest's own processes set the
# prefix, from the first one's base; a process a test starts keeps the one it is given, the
# run's through the environment or one of the test's own (child_env(REDIS_KEY_PREFIX=...)).
if "pytest" in sys.modules:
    _run = os.environ.setdefault("KEFU_TEST_RUN", uuid.uuid4().hex[:8])[:8]
    _base = os.environ.setdefault("KEFU_TEST_KEY_BASE", os.environ.get("REDIS_KEY_PREFIX", "kefu"))
    os.environ["REDIS_KEY_PREFIX"] = "-".join(filter(None, (_base, _run, _worker)))

from kefu.settings import *  # noqa: E402, F403 - the product's settings, unchanged but for the below

# PBKDF2 costs ~0.7 s per user created or password checked on this hardware; most tests create
# two or three users. MD5 is unsafe for real passwords and fine for test fixtures.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The browser tests visit the widget through its demo host page, as `make run` serves it.
WIDGET_DEMO_PAGE = True

# Every test comes from 127.0.0.1, and the suite opens thousands of sockets and bootstraps a
# minute: the per-address limits (kefu/ratelimit.py) are off unless the environment sets them
# (the processes a test starts) or a test does (tests/kefu/test_ratelimit.py).
for _name in (
    "WIDGET_RATE_PER_ADDRESS",
    "WIDGET_RATE_PER_KEY",
    "WIDGET_OFFLINE_RATE_PER_ADDRESS",
    "WS_CONNECT_RATE_PER_ADDRESS",
    "WS_AUTH_FAILURES_PER_ADDRESS",
    "API_TOKEN_FAILURES_PER_ADDRESS",
):
    globals()[_name] = os.environ.get(_name, "0/60")
# Which merchants' webhooks want which events is a per-process snapshot reloaded every few
# seconds (merchants.selectors.merchant_webhook_kinds): in tests it is reloaded only after a
# webhooks change drops it, so a reload never lands at random inside a pinned query count.
WEBHOOK_SUBSCRIPTIONS_REFRESH = 3600.0

# Cache keys carry merchant, visitor and conversation ids too (rate limits, transcripts).
CACHES["default"].setdefault("KEY_PREFIX", REDIS_KEY_PREFIX)  # noqa: F405
