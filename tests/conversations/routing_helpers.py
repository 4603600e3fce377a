"""Shared by the routing tests (test_routing_*.py): agents put online through the real presence
store, and the autouse fixtures those modules import so they apply to them: a fresh realtime
layer and presence store per test (realtime_helpers.fresh_realtime) and English reasons. carol and
dave, two more agents of Acme, reach every conversations test through its conftest."""

import asyncio

import pytest

from conversations import presence
from merchants.models import Membership
from tests import factories
from tests.conversations.realtime_helpers import fresh_realtime

__all__ = ["carol", "dave", "english", "fresh_realtime", "go_offline", "go_online"]


@pytest.fixture(autouse=True)
def english(settings):
    # Reasons are rendered in the merchant language; the tests read the English msgids.
    settings.LANGUAGE_CODE = "en"


def go_online(membership: Membership, socket: str = "test-socket") -> None:
    asyncio.run(presence.agent_socket_up(membership.merchant_id, membership.user_id, socket))


def go_offline(membership: Membership, socket: str = "test-socket") -> None:
    asyncio.run(presence.agent_socket_down(membership.merchant_id, membership.user_id, socket))


@pytest.fixture
def carol(acme):
    """A second agent of Acme."""
    return factories.member(acme, "carol", Membership.Role.AGENT, display_name="Carol")


@pytest.fixture
def dave(acme):
    return factories.member(acme, "dave", Membership.Role.AGENT, display_name="Dave")
