"""POST /api/v1/visitors/ creates a contact: fields, custom attributes checked against the
merchant's definitions, idempotent on the external id, bad input as field errors, a write
scope, a pinned query count; charlie gets nothing of Acme's; and the contact can be written to
first, which their widget then shows once the site signs them in."""

from __future__ import annotations

import json

import pytest

from conversations.models import AttributeDefinition, ConversationEvent, Visitor
from merchants.models import ApiToken
from tests import factories
from tests.conversations.conftest import session_client, token_client
from tests.conversations.realtime_helpers import Sock, fresh_realtime, run  # noqa: F401
from tests.wsclient import open_visitor

URL = "/api/v1/visitors/"


def create(client, **body):
    return client.post(URL, body, format="json")


@pytest.fixture
def plan(acme):
    return AttributeDefinition.objects.create(
        merchant=acme, key="plan", name="套餐", kind="choice", choices=["free", "pro"]
    )


@pytest.fixture
def orders(acme):
    return AttributeDefinition.objects.create(
        merchant=acme, key="orders", name="订单数", kind="number"
    )


def test_a_contact_is_created_with_its_fields_and_attributes(api, acme, plan, orders):
    response = create(
        api,
        external_id="crm-42",
        name="韩梅梅",
        email="meimei@example.com",
        phone="+86 138 0000 0000",
        attributes={"plan": "pro", "orders": "3"},
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    visitor = Visitor.objects.get(pk=data["id"])
    assert visitor.merchant_id == acme.pk
    assert (visitor.external_id, visitor.name, visitor.email, visitor.phone) == (
        "crm-42",
        "韩梅梅",
        "meimei@example.com",
        "+86 138 0000 0000",
    )
    assert visitor.attributes == {"plan": "pro", "orders": 3}  # stored as its type
    assert data["attributes"] == {"plan": "pro", "orders": 3}
    assert "anonymous_id" not in data  # the widget's credential is never shown
    assert len(visitor.anonymous_id) >= 24
    events = ConversationEvent.objects.filter(visitor_id=visitor.pk, kind="visitor.identified")
    assert [e.data for e in events] == [{"by": "api", "created": True}]


def test_a_second_create_with_the_same_identity_answers_the_first_unchanged(token, acme):
    first = create(token, external_id="crm-7", name="李雷")
    again = create(token, external_id="crm-7", name="别的名字", email="x@example.com")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == "李雷" and again.json()["email"] == ""
    assert Visitor.objects.filter(merchant=acme, external_id="crm-7").count() == 1
    # A visitor the widget identified before is the contact too.
    known = factories.visitor(acme, external_id="site-1")
    assert create(token, external_id="site-1").json()["id"] == known.pk
    # Without an identity id every create is a new contact.
    a, b = create(token, name="无号"), create(token, name="无号")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-address"}, "email"),
        ({"name": 5}, "name"),
        ({"external_id": "x" * 129}, "external_id"),
        ({"phone": "1" * 41}, "phone"),
        ({"attributes": ["plan"]}, "attributes"),
        ({"attributes": {"nope": "1"}}, "attributes.nope"),
        ({"attributes": {"plan": "gold"}}, "attributes.plan"),
        ({"attributes": {"orders": "many"}}, "attributes.orders"),
        ({"attributes": {f"k{i}": 1 for i in range(51)}}, "attributes"),
    ],
)
def test_bad_input_is_a_field_error_and_creates_nothing(token, acme, plan, orders, body, field):
    response = create(token, **{"external_id": "crm-bad", **body})
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Visitor.objects.filter(merchant=acme).exists()
    assert not ConversationEvent.objects.exists()


def test_a_body_that_is_not_an_object_is_400(token, acme):
    response = token.post(URL, "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert not Visitor.objects.exists()


def test_query_count_is_pinned(token, acme, plan, django_assert_num_queries):
    # The token, the definitions, the merchant lock, the look-up by identity, the insert, the
    # event, and the transaction's savepoint and release; the same whatever the merchant holds.
    create(token, external_id="warm", attributes={"plan": "free"})
    with django_assert_num_queries(8) as first:
        assert create(token, external_id="crm-1", attributes={"plan": "pro"}).status_code == 201
    factories.visitor(acme, external_id="crm-9")
    with django_assert_num_queries(len(first.captured_queries)):
        assert create(token, external_id="crm-2", attributes={"plan": "pro"}).status_code == 201
    # No attributes to check, no insert, no event.
    with django_assert_num_queries(len(first.captured_queries) - 3):
        assert create(token, external_id="crm-1").status_code == 200


def test_a_read_only_token_cannot_create(acme):
    client = token_client(factories.api_token(acme, scope=ApiToken.Scope.READ_ONLY))
    assert create(client, external_id="crm-1").status_code == 403
    assert not Visitor.objects.exists()


def test_charlie_creates_into_his_own_merchant_only_and_sees_nothing_of_acmes(
    token, acme, other, charlie, plan
):
    acmes = create(token, external_id="shared-id", name="Acme 的客户").json()
    for client in (token_client(factories.api_token(other)), session_client(charlie)):
        # Acme's attribute is not his: an unknown key, nothing written.
        refused = create(client, external_id="c-1", attributes={"plan": "pro"})
        assert refused.status_code == 400 and "attributes.plan" in refused.json()
        # The same identity id at his merchant is his own new contact, never Acme's.
        response = create(client, external_id="shared-id", name="Other 的客户")
        assert response.status_code in (200, 201)
        assert response.json()["id"] != acmes["id"]
        assert response.json()["name"] == "Other 的客户"
        assert client.get(f"{URL}{acmes['id']}/").status_code == 404
        listed = client.get(URL).json()["results"]
        assert acmes["id"] not in [v["id"] for v in listed]
    assert Visitor.objects.get(pk=acmes["id"]).name == "Acme 的客户"
    assert Visitor.objects.filter(merchant=other, external_id="shared-id").count() == 1


def test_the_schema_documents_the_create(token):
    schema = token.get("/api/schema/", {"format": "json"})
    if schema.status_code == 404:
        pytest.skip("no schema endpoint")
    post = schema.json()["paths"]["/api/v1/visitors/"]["post"]
    assert {"201", "200", "400"} <= set(post["responses"])


# --- End to end: create, write first, the customer's widget shows it --------------------------


def boot(client, merchant, body):
    return client.post(
        f"/widget/api/bootstrap?key={merchant.widget_key}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN="http://127.0.0.1",
    )


# The socket's consumer reads the database from its own thread: committed rows.
@pytest.mark.django_db(transaction=True)
def test_a_created_contact_gets_an_outbound_message_their_widget_shows(client, token, acme):
    contact = create(token, external_id="crm-100", name="王芳").json()
    started = token.post(
        "/api/v1/conversations/",
        {"visitor_id": contact["id"], "body": "您的订单已发货"},
        format="json",
    )
    assert started.status_code == 201, started.json()
    conversation_id = started.json()["conversation"]["id"]
    # The customer opens the shop, signed in: their browser's visitor becomes the contact.
    booted = boot(
        client,
        acme,
        {
            "anonymous_id": "browser-of-wang-fang-01",
            "identity": factories.signed_identity(acme, "crm-100"),
        },
    )
    assert booted.status_code == 200, booted.json()
    assert booted.json()["visitor_id"] == contact["id"]

    async def scenario():
        comm, connected, _ = await open_visitor(acme)
        assert connected
        await comm.send_json_to({"type": "auth", "token": booted.json()["token"], "last_seq": 0})
        sock = Sock(comm, "visitor")
        ready = await sock.until("session.ready")
        history = await sock.until("history")
        await sock.close()
        return ready, history

    ready, history = run(scenario())
    assert ready["visitor_id"] == contact["id"]
    assert ready["conversation"]["id"] == conversation_id
    assert history["conversation_id"] == conversation_id
    assert [m["body"] for m in history["messages"]] == ["您的订单已发货"]
    # The customer answers in the same conversation.
    reply = token.post(
        "/api/v1/conversations/",
        {"visitor_id": contact["id"], "body": "谢谢", "direction": "inbound"},
        format="json",
    )
    assert reply.status_code == 200
    assert reply.json()["conversation"]["id"] == conversation_id
