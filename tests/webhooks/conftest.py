from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A signature-checking HTTP receiver on loopback (allowed for the test only)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with Receiver() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_subscriptions():
    """Merchant ids repeat across tests (rolled back): no test sees another's subscriptions."""
    from merchants.selectors import merchant_webhook_kinds_forget

    merchant_webhook_kinds_forget()
    yield
    merchant_webhook_kinds_forget()
