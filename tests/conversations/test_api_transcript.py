"""GET /api/v1/conversations/<id>/transcript/: the whole conversation as a JSON or CSV file,
private notes flagged, formulas defused in CSV, charlie gets a 404, queries pinned."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests import factories
from tests.conversations.conftest import session_client, token_client


@pytest.fixture
def talk(acme, bob):
    visitor = factories.visitor(acme, name="张三")
    first = factories.visitor_message(visitor, '=HYPERLINK("http://evil","点我")')
    factories.agent_message(bob, first.conversation_id, "您好，请问有什么可以帮您？")
    factories.agent_message(bob, first.conversation_id, "VIP 客户", private=True)
    return first.conversation


def test_json_transcript(api, talk):
    response = api.get(f"/api/v1/conversations/{talk.pk}/transcript/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert f'filename="conversation-{talk.pk}.json"' in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["conversation"]["id"] == talk.pk
    assert data["visitor"]["name"] == "张三"
    # seq 2: the system line "Bob joined" (his reply claimed the conversation), as the visitor saw.
    assert [m["seq"] for m in data["messages"]] == [1, 2, 3, 4]
    assert [m["private"] for m in data["messages"]] == [False, False, False, True]
    assert data["messages"][1]["kind"] == "event"
    assert data["messages"][0]["body"].startswith("=HYPERLINK")  # JSON keeps text as it is


def test_csv_transcript_defuses_formulas(api, talk):
    response = api.get(f"/api/v1/conversations/{talk.pk}/transcript/", {"as": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="conversation-{talk.pk}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["body"] == '\'=HYPERLINK("http://evil","点我")'
    assert rows[1]["sender_kind"] == "system"  # "Bob joined", the visitor's system line
    assert rows[2]["sender_kind"] == "agent" and rows[2]["body"].startswith("您好")
    assert [r["private"] for r in rows] == ["false", "false", "false", "true"]
    assert rows[0]["created_at"].endswith("+00:00")


def test_bad_file_type_is_a_field_error(api, talk):
    response = api.get(f"/api/v1/conversations/{talk.pk}/transcript/", {"as": "xlsx"})
    assert response.status_code == 400 and "as" in response.json()


def test_charlie_gets_nothing(talk, charlie, other):
    for client in (token_client(factories.api_token(other)), session_client(charlie)):
        for kind in ("json", "csv"):
            response = client.get(f"/api/v1/conversations/{talk.pk}/transcript/", {"as": kind})
            assert response.status_code == 404


@pytest.mark.parametrize("extra", [0, 20])
def test_query_count_is_pinned(acme, bob, django_assert_num_queries, extra):
    token = token_client(factories.api_token(acme))
    message = factories.visitor_message(factories.visitor(acme))
    for i in range(extra):
        factories.agent_message(bob, message.conversation_id, f"第{i}条")
    path = f"/api/v1/conversations/{message.conversation_id}/transcript/"
    token.get(path)  # warm-up: the token's last_used_at write
    for kind in ("json", "csv"):
        with django_assert_num_queries(3):  # the token, the conversation with its visitor, messages
            assert token.get(path, {"as": kind}).status_code == 200
