from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A signature-checking HTTP receiver on loopback (allowed for the test only)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with Receiver() as server:
        yield server
