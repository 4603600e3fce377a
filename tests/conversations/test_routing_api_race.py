"""Two agents claim the same conversation through the API at the same moment, on MariaDB with
real row locks: one gets it (200), the other a clear 409 `already_assigned`, never a 500."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conversations.models import Conversation, RoutingEvent
from merchants.models import Membership
from tests import factories
from tests.conftest import require_mysql
from tests.conversations.conftest import session_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_claims_one_wins(acme, alice, bob):
    require_mysql()
    carol = factories.member(acme, "carol", Membership.Role.AGENT)
    for round_ in range(5):
        conversation = factories.visitor_message(
            factories.visitor(acme), f"第{round_}位"
        ).conversation
        clients = [session_client(m) for m in (alice, bob, carol)]
        barrier = threading.Barrier(len(clients))
        results = []

        def claim(client):
            try:
                barrier.wait(timeout=10)
                response = client.post(
                    f"/api/v1/conversations/{conversation.pk}/claim/", {}, format="json"
                )
                results.append((response.status_code, response.json()))
            finally:
                connection.close()

        threads = [threading.Thread(target=claim, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        codes = sorted(status for status, _body in results)
        assert codes == [200, 409, 409], results
        winner = next(body for status, body in results if status == 200)
        assert all(body["code"] == "already_assigned" for status, body in results if status == 409)
        conversation.refresh_from_db()
        assert conversation.assignee_id == winner["assignee_id"]
        assert RoutingEvent.objects.filter(conversation=conversation, kind="claimed").count() == 1
        assert Conversation.objects.filter(pk=conversation.pk, assignee__isnull=False).count() == 1
