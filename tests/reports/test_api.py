"""The reports API: figures for the caller's merchant only (charlie gets nothing of Acme's, by
token or session), owners/admins and tokens only (bob, an agent, gets 403), bad ranges are 400
with field errors, query counts are pinned, exports are CSV/XLSX without formulas."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from reports import export, rollup
from tests import factories
from tests.conversations.conftest import session_client, token_client

from . import data

START = dt.date(2026, 3, 2)
RANGE = {"from": "2026-03-02", "to": "2026-03-05"}
SUMMARY = "/api/v1/reports/summary/"
BREAKDOWN = "/api/v1/reports/breakdown/"
EXPORT = "/api/v1/reports/export/"


@pytest.fixture
def acme_data(acme, alice, bob):
    data.build(acme, [alice, bob], start=START, days=4, n=60)
    rollup.merchant_rebuild(merchant_id=acme.pk)
    return acme.pk


@pytest.fixture
def other_data(other, charlie):
    data.build(other, [charlie], start=START, days=4, n=9, seed=3, tag="Other ")
    rollup.merchant_rebuild(merchant_id=other.pk)


@pytest.fixture
def alice_api(alice):
    return session_client(alice)


def test_summary_for_the_owner_matches_a_direct_count(acme, acme_data, alice_api):
    response = alice_api.get(SUMMARY, RANGE)
    assert response.status_code == 200, response.content
    body = response.json()
    expected = data.direct(acme, START, START + dt.timedelta(days=3))[""]
    assert body["current"]["started"] == expected["started"] > 0
    assert body["current"]["first_response_median"] == expected["first_response_median"]
    assert body["period"] == {"start": "2026-03-02", "end": "2026-03-05"}
    assert body["previous_period"] == {"start": "2026-02-26", "end": "2026-03-01"}
    assert body["time_zone"] == "Asia/Shanghai"
    assert len(body["heatmap"]) == 7 and all(len(row) == 24 for row in body["heatmap"])


def test_the_api_token_reads_reports_too(acme, acme_data):
    client = token_client(factories.api_token(acme))
    response = client.get(BREAKDOWN, {**RANGE, "by": "agent"})
    assert response.status_code == 200
    assert {row["name"] for row in response.json()["rows"]} >= {"Alice 客服", "Bob"}


def test_an_agent_gets_403(bob, acme_data):
    client = session_client(bob)
    for path, params in (
        (SUMMARY, RANGE),
        (BREAKDOWN, {"by": "team"}),
        (EXPORT, {"table": "daily"}),
    ):
        assert client.get(path, params).status_code == 403


def all_requests():
    yield SUMMARY, RANGE
    for by in ("agent", "team", "label", "source", "page"):
        yield BREAKDOWN, {**RANGE, "by": by}
    for table in export.TABLES:
        yield EXPORT, {**RANGE, "table": table}


def test_charlie_gets_nothing_of_acmes(acme, other, charlie, acme_data, other_data):
    """By session (his own merchant, or Acme's id in the header) and by his token: his own
    figures, none of Acme's counts, names or ids."""
    own = data.direct(other, START, START + dt.timedelta(days=3))[""]["started"]
    acme_names = {"Alice 客服", "Bob", "售后", "=SUM(A1)", "组 0", "组 1"}
    # By kind: a team's and a label's ids come from two tables and may be equal (small ids in a
    # fresh database, as a pytest-xdist worker's is).
    acme_ids = {
        "team": {str(t.pk) for t in acme.teams.all()},
        "label": {str(lb.pk) for lb in acme.labels.all()},
    }
    sneaky = session_client(charlie, merchant_id=acme.pk)
    for client in (session_client(charlie), token_client(factories.api_token(other))):
        for path, params in all_requests():
            assert sneaky.get(path, params).status_code == 403
            response = client.get(path, params)
            assert response.status_code == 200
            if path == SUMMARY:
                assert response.json()["current"]["started"] == own
            elif path == BREAKDOWN:
                rows = response.json()["rows"]
                if params["by"] != "label":  # a conversation counts once per label
                    assert sum(r["started"] for r in rows) == own
                assert not {r["name"] for r in rows} & acme_names
                if params["by"] in ("team", "label"):
                    assert not {r["key"] for r in rows} & acme_ids[params["by"]]
            else:
                text = response.content.decode("utf-8-sig")
                first_cells = {row[0].lstrip("'") for row in csv.reader(io.StringIO(text))}
                assert not first_cells & acme_names


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-03-05", "to": "2026-03-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "1900-01-01", "to": "1900-01-02"}, "from"),
        ({"from": "2026-03-01", "to": "9999-12-31"}, "to"),
    ],
)
def test_bad_ranges_are_400_with_field_errors(alice_api, params, field):
    for path, extra in ((SUMMARY, {}), (BREAKDOWN, {"by": "agent"}), (EXPORT, {"table": "daily"})):
        response = alice_api.get(path, {**params, **extra})
        assert response.status_code == 400, response.content
        assert field in response.json()


def test_bad_dimension_and_table_are_400(alice_api):
    assert "by" in alice_api.get(BREAKDOWN, RANGE).json()
    assert "by" in alice_api.get(BREAKDOWN, {**RANGE, "by": "visitor"}).json()
    assert "table" in alice_api.get(EXPORT, {**RANGE, "table": "../etc"}).json()
    assert "file" in alice_api.get(EXPORT, {**RANGE, "table": "daily", "file": "pdf"}).json()


def test_default_range_is_the_last_seven_days(alice_api):
    body = alice_api.get(SUMMARY).json()
    start = dt.date.fromisoformat(body["period"]["start"])
    end = dt.date.fromisoformat(body["period"]["end"])
    assert (end - start).days == 6


def test_query_counts_are_pinned_whatever_the_data(alice_api, acme_data, django_assert_num_queries):
    # session + user + membership (3), then the report's own reads.
    with django_assert_num_queries(3 + 1 + 1):  # + the merchant's time zone for the response
        assert alice_api.get(SUMMARY, RANGE).status_code == 200
    for by, names in (("agent", 1), ("team", 1), ("label", 1), ("source", 0), ("page", 0)):
        with django_assert_num_queries(3 + 1 + names):
            assert alice_api.get(BREAKDOWN, {**RANGE, "by": by}).status_code == 200


def test_exports_are_csv_and_xlsx_with_text_not_formulas(alice_api, acme_data):
    alice_api.credentials(HTTP_X_KEFU_MERCHANT=str(acme_data), HTTP_ACCEPT_LANGUAGE="en")
    response = alice_api.get(EXPORT, {**RANGE, "table": "label"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "report-label-2026-03-02-2026-03-05.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Label" and rows[0][1] == "Started"
    names = [row[0] for row in rows[1:]]
    assert "'=SUM(A1)" in names and "售后" in names  # CSV injection defused
    page = alice_api.get(EXPORT, {**RANGE, "table": "page", "file": "xlsx"})
    assert page.status_code == 200
    sheet = load_workbook(io.BytesIO(page.content)).active
    cells = [row[0].value for row in sheet.iter_rows(min_row=2)]
    formula = '=HYPERLINK("http://evil")'
    assert formula in cells
    cell = next(row[0] for row in sheet.iter_rows(min_row=2) if row[0].value == formula)
    assert cell.data_type == "s"  # stored as text, never evaluated
    heat = alice_api.get(EXPORT, {**RANGE, "table": "heatmap"})
    lines = heat.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Weekday,00:00,01:00") and lines[1].startswith("Monday,")
    assert len(lines) == 8


def test_exports_speak_the_callers_language(alice_api, acme_data):
    alice_api.credentials(HTTP_X_KEFU_MERCHANT=str(acme_data), HTTP_ACCEPT_LANGUAGE="zh-hans")
    lines = alice_api.get(EXPORT, {**RANGE, "table": "heatmap"}).content.decode("utf-8-sig")
    assert lines.splitlines()[1].startswith("星期一,")
