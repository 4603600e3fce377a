"""The per-token rate limit of the REST API (REST_FRAMEWORK's throttle class): API_RATE_LIMIT
requests per minute per token (or the token's own `rate_limit`), counted in fixed one-minute
windows in the cache, which is Redis when REDIS_URL is set (one counter shared by every
process; INCR is atomic there) and process memory otherwise. Past the limit: 429 with
Retry-After, the seconds to the next window. Login sessions (the workspace) are not limited
here."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .models import ApiToken

WINDOW = 60


class ApiTokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        limit = token.rate_limit or settings.API_RATE_LIMIT
        if limit <= 0:
            return True
        now = time.time()
        window = int(now // WINDOW)
        # The digest, not the id: unique per token across databases sharing one Redis.
        key = f"{settings.REDIS_KEY_PREFIX}:api-rate:{token.digest[:24]}:{window}"
        cache.add(key, 0, timeout=WINDOW + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=WINDOW + 5)
            count = 1
        self._wait = (window + 1) * WINDOW - now
        return count <= limit

    def wait(self) -> float:
        return self._wait
