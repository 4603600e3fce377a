"""The OpenAPI schema at /api/schema/ and the Swagger UI at /api/docs/."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from kefu.api import ERRORS

ERRORS_400 = ERRORS["400"]

PATHS = {
    "/api/v1/conversations/": {"get", "post"},
    "/api/v1/conversations/{id}/": {"get"},
    "/api/v1/conversations/{id}/messages/": {"get", "post"},
    "/api/v1/conversations/{id}/attachments/": {"post"},
    "/api/v1/visitors/": {"get", "post"},
    "/api/v1/visitors/{id}/": {"get", "patch"},
    "/api/v1/visitors/{id}/export/": {"get"},
    "/api/v1/visitors/{id}/erase/": {"post"},
    "/api/v1/canned-responses/": {"get", "post"},
    "/api/v1/canned-responses/{id}/": {"get", "patch", "delete"},
    "/api/v1/canned-responses/{id}/use/": {"post"},
    "/api/v1/conversations/{id}/transcript/": {"get"},
    "/api/v1/webhooks/": {"get", "post"},
    "/api/v1/webhooks/{id}/": {"get", "patch", "delete"},
    "/api/v1/webhooks/{id}/rotate-secret/": {"post"},
    "/api/v1/webhooks/{id}/deliveries/": {"get"},
    "/api/v1/webhook-deliveries/{id}/redeliver/": {"post"},
    # Knowledge base (knowledge/urls.py)
    **{
        f"/api/v1/kb/{name}/": {"get", "post"}
        for name in ("faqs", "intents", "categories", "synonyms", "dictionary")
    },
    **{
        f"/api/v1/kb/{name}/{{id}}/": {"get", "patch", "delete"}
        for name in ("faqs", "intents", "categories", "synonyms", "dictionary")
    },
    "/api/v1/kb/import/": {"post"},
    "/api/v1/kb/import/{id}/": {"get"},
    "/api/v1/kb/export/": {"get"},
    "/api/v1/kb/gaps/": {"get"},
    "/api/v1/teams/": {"get"},
    "/api/v1/queue/": {"get"},
    "/api/v1/conversations/{id}/routing-events/": {"get"},
    "/api/v1/conversations/{id}/claim/": {"post"},
    "/api/v1/conversations/{id}/transfer/": {"post"},
    "/api/v1/conversations/{id}/status/": {"post"},
    "/api/v1/reports/summary/": {"get"},
    "/api/v1/reports/breakdown/": {"get"},
    "/api/v1/reports/export/": {"get"},
    "/api/v1/conversations/{id}/suggestions/": {"get"},  # agent assist (conversations/assist.py)
    # Inbox views and search (docs/search.md, docs/desk.md)
    "/api/v1/conversations/counts/": {"get"},
    "/api/v1/search/messages/": {"get"},
    "/api/v1/conversations/{id}/snooze/": {"post"},
    "/api/v1/conversations/{id}/unsnooze/": {"post"},
    "/api/v1/conversations/{id}/priority/": {"post"},
    # Customers (issue 13): labels, profiles, notes, custom attributes, blocking
    "/api/v1/labels/": {"get", "post"},
    "/api/v1/labels/{id}/": {"get", "patch", "delete"},
    "/api/v1/conversations/{id}/labels/": {"post"},
    "/api/v1/visitors/block/": {"post", "delete"},
    "/api/v1/visitors/{id}/profile/": {"get"},
    "/api/v1/visitors/{id}/notes/": {"post"},
    "/api/v1/visitors/{id}/notes/{note_id}/": {"delete"},
    "/api/v1/visitors/{id}/attributes/": {"patch"},
    "/api/v1/visitors/{id}/block/": {"post", "delete"},
    "/api/v1/attributes/": {"get", "post"},
    "/api/v1/attributes/{id}/": {"delete"},
}


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_listing_the_api(schema):
    validate_schema(schema)  # raises on a document that breaks the OpenAPI 3 JSON schema
    api_paths = {p: set(ops) for p, ops in schema["paths"].items() if p.startswith("/api/v1/")}
    assert api_paths == PATHS


def test_schema_describes_auth(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiToken"]["type"] == "http"
    assert schemes["apiToken"]["scheme"] == "bearer"
    assert schemes["merchantHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Kefu-Merchant",
        "description": schemes["merchantHeader"]["description"],
    }
    for path, methods in PATHS.items():
        for method in methods:
            # Either the token, or the session together with the merchant header.
            assert schema["paths"][path][method]["security"] == [
                {"apiToken": []},
                {"cookieAuth": [], "merchantHeader": []},
            ], (path, method)


def test_schema_shapes(schema):
    components = schema["components"]["schemas"]
    conversation = components["Conversation"]
    assert list(conversation["properties"]) == [
        "id",
        "status",
        "visitor",
        "assignee_id",
        "last_seq",
        "last_message_at",
        "last_message_preview",
        "last_message_sender_kind",
        "unread_count",
        "created_at",
        "agent_last_read_seq",
        "visitor_last_read_seq",
        "source",
        "team_id",
        "priority",
        "queued_at",
        "queue_position",
        "bot_active",
        "intent",
        "awaiting_reply_since",
        "snoozed_at",
        "snoozed_until",
        "label_ids",
        "rating",
        "rating_comment",
    ]
    assert "anonymous_id" not in components["Visitor"]["properties"]
    paginated = components["PaginatedConversationList"]["properties"]
    assert set(paginated) == {"next", "previous", "results"}
    send = schema["paths"]["/api/v1/conversations/{id}/messages/"]["post"]
    # Its own answers, and the refusals every operation documents (kefu.api.document_refusals).
    assert set(send["responses"]) == {"200", "201", "400", "401", "403", "404", "429"}
    assert send["responses"]["400"]["description"] != ERRORS_400  # the view's own wording kept
    listing = schema["paths"]["/api/v1/conversations/"]["get"]["responses"]
    assert "404" not in listing and "429" in listing and "401" in listing
    body = components["MessageCreate"]
    assert body["required"] == ["body"]
    assert body["properties"]["client_msg_id"]["pattern"] == "^[A-Za-z0-9_.:-]+$"
    list_params = {
        p["name"] for p in schema["paths"]["/api/v1/conversations/"]["get"]["parameters"]
    }
    assert list_params == {"cursor", "page_size", "status", "view", "team", "sort", "q", "label"}
    messages = schema["paths"]["/api/v1/conversations/{id}/messages/"]["get"]
    message_params = {p["name"] for p in messages["parameters"]}
    assert message_params == {"id", "cursor", "page_size", "after_seq"}


def test_schema_generates_without_warnings(tmp_path):
    """--fail-on-warn: every view, parameter and field resolved (limited to the API's URLs)."""
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--urlconf",
        "tests.kefu.api_urls",
        "--file",
        str(tmp_path / "schema.yaml"),
    )
    assert "/api/v1/conversations/{id}/messages/" in (tmp_path / "schema.yaml").read_text()


def test_docs_use_only_local_assets(db):
    client = APIClient()
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()

    # The start-up code is a file of its own (the CSP runs no inline script).
    script = client.get("/api/docs/?script=").content.decode()
    assert "SwaggerUIBundle" in script and not re.search(r"https?://", script)
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' ]+", html)
    assert not re.search(r"""(src|href)=["']//""", html)
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert len(assets) >= 3  # css, bundle, preset (and the favicon)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_every_operation_answers_options_and_bad_ids_without_a_server_error(db):
    """Found by schemathesis: OPTIONS on a view without a declared serializer was a 500, and a
    write to an unknown path carrying a session cookie got Django's HTML CSRF page."""
    from tests import factories

    merchant = factories.merchant("探针")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.api_token(merchant)}")
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for path in schema["paths"]:
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = client.options(url)
        assert response.status_code < 500, (path, response.status_code)
    client.cookies["sessionid"] = "junk"
    response = client.patch("/api/v1/canned-responses/null,null/", {}, format="json")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_schema_tells_what_schemathesis_found(schema):
    """What the schemathesis run (tests/kefu/test_api_fuzz.py) found untrue, pinned here fast."""
    paths = schema["paths"]
    for name in ("faqs", "intents", "categories", "synonyms", "dictionary"):
        responses = paths[f"/api/v1/kb/{name}/"]["post"]["responses"]
        assert "201" in responses and "200" not in responses, name
    search = paths["/api/v1/search/messages/"]["get"]["responses"]["200"]["content"]
    ref = search["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"next", "results"}
    export = paths["/api/v1/kb/export/"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"]["type"] == "array"
    assert "text/csv" in paths["/api/v1/reports/export/"]["get"]["responses"]["200"]["content"]
    assert "400" in paths["/api/v1/visitors/block/"]["delete"]["responses"]
    assert schema["components"]["schemas"]["Visitor"]["properties"]["email"].get("format") is None
    assert schema["components"]["schemas"]["Endpoint"]["properties"]["disabled_at"]["nullable"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                if code.startswith("4"):
                    assert response.get("content"), (path, method, code)
