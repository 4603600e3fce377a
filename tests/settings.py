"""Settings for the test run: the product's settings plus what only tests want.

pytest.ini names this module (DJANGO_SETTINGS_MODULE), and pytest-django exports it to the
environment, so the processes the tests start (daphne, Celery workers, bench scripts) read it too:
a user created in the test process signs in on the daphne process with the same hasher.
(pytest-django prefers a DJANGO_SETTINGS_MODULE already in the environment over pytest.ini.)
"""

from kefu.settings import *  # noqa: F403 - the product's settings, unchanged but for the below

# PBKDF2 costs ~0.7 s per user created or password checked on this hardware; most tests create
# two or three users. MD5 is unsafe for real passwords and fine for test fixtures.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The browser tests visit the widget through its demo host page, as `make run` serves it.
WIDGET_DEMO_PAGE = True

# Which merchants' webhooks want which events is a per-process snapshot reloaded every few
# seconds (merchants.selectors.merchant_webhook_kinds): in tests it is reloaded only after a
# webhooks change drops it, so a reload never lands at random inside a pinned query count.
WEBHOOK_SUBSCRIPTIONS_REFRESH = 3600.0
