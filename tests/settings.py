"""Settings for the test run: the product's settings plus what only tests want.

pytest.ini names this module (DJANGO_SETTINGS_MODULE), and pytest-django exports it to the
environment, so the processes the tests start (daphne, Celery workers, bench scripts) read it too:
a user created in the test process signs in on the daphne process with the same hasher.
(pytest-django prefers a DJANGO_SETTINGS_MODULE already in the environment over pytest.ini.)
"""

import os

from kefu.settings import *  # noqa: F403 - the product's settings, unchanged but for the below

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
