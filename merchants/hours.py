"""Business hours. Placeholder until routing lands: always open. The signatures are the
contract other modules call."""

from __future__ import annotations

from datetime import datetime

from .models import Merchant


def is_open(merchant: Merchant, at: datetime | None = None) -> bool:
    """Whether `merchant` is within business hours at `at` (default now), in its time zone,
    holidays included. Always True when business hours are not enabled."""
    return True
