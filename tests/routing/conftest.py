"""Routing tests: the realtime fixtures of tests/conversations (fresh layer and presence store per
test), agents put online through the real presence store, and Celery messages sent by
assignments kept on a queue of this run's own (no stray worker of another run picks them up)."""

import asyncio
import os

import pytest
from django.conf import settings as django_settings

from conversations import presence
from kefu.celery import app as celery_app
from merchants.models import Membership
from tests import factories
from tests.conversations.realtime_helpers import fresh_realtime  # noqa: F401 (autouse)


@pytest.fixture(autouse=True, scope="session")
def _own_celery_queue():
    queue = f"kefutest-routing-{os.environ['KEFU_TEST_RUN']}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = previous
    if django_settings.CELERY_BROKER_URL.startswith("redis"):
        import redis

        redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete(queue)


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
