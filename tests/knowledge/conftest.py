import os
import uuid

import pytest

# Playwright's sync API inside pytest-django (the admin browser test).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def own_cache_keys(settings):
    """Each test its own cache key prefix: the "last KB change" timestamps must not leak from
    one test to the next (merchant ids repeat), and a shared Redis is never flushed."""
    default = dict(settings.CACHES["default"], KEY_PREFIX=f"kefutest-{uuid.uuid4().hex[:8]}")
    settings.CACHES = {**settings.CACHES, "default": default}


@pytest.fixture(autouse=True)
def fresh_engine_cache():
    from knowledge import selectors

    selectors.engine_cache_clear()
    yield
    selectors.engine_cache_clear()
