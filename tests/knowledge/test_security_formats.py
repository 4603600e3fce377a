"""Hostile knowledge-base files and entries (issue 16, findings 1 and 7): a JSON import nested
too deeply is a file error, not a 500; an entry holding a control character no longer makes the
merchant's XLSX export fail, and a round trip keeps everything else."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from knowledge import importers, services
from knowledge.models import Faq
from tests import factories

DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize("body", [DEEP, b'[{"question": ' + DEEP + b"}]"])
def test_deep_json_import_is_a_file_error(acme, body):
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="json", file=body)
    assert not result.ok and result.errors
    assert not Faq.objects.exists()


def test_deep_json_cell_in_a_csv_is_a_row_error(acme):
    deep = "[" * 10_000 + "]" * 10_000
    body = f'name,examples,slots\norder,"查订单",{deep}\n'.encode()
    result = importers.kb_import(merchant=acme, kind="intents", fmt="csv", file=body)
    assert not result.ok and result.errors


def test_deep_json_import_over_the_api_is_a_400(acme, client):
    token = factories.api_token(acme)
    response = client.post(
        "/api/v1/kb/import/",
        {"kind": "faqs", "format": "json", "file": io.BytesIO(DEEP)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400, response.content[:300]
    assert not Faq.objects.exists()


def test_xlsx_export_with_control_characters_round_trips(acme, other, client):
    services.faq_create(merchant_id=acme.pk, question="退货\x01流程?", answer="七天\x0b内\x1f可退")
    services.faq_create(merchant_id=acme.pk, question="换行\n和\t制表", answer="正常的答案")
    token = factories.api_token(acme)

    response = client.get(
        "/api/v1/kb/export/?kind=faqs&format=xlsx", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 200
    cells = [
        c.value
        for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()
        for c in row
    ]
    assert "退货流程?" in cells and "七天内可退" in cells
    assert "换行\n和\t制表" in cells  # legal white space kept
    result = importers.kb_import(merchant=other, kind="faqs", fmt="xlsx", file=response.content)
    assert result.ok, result.errors
    assert sorted(Faq.objects.filter(merchant=other).values_list("question", "answer")) == [
        ("换行\n和\t制表", "正常的答案"),
        ("退货流程?", "七天内可退"),
    ]
