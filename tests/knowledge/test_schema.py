"""The knowledge-base API in the OpenAPI schema: every view, parameter and field resolved."""

from __future__ import annotations

import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema


def test_kb_schema_generates_without_warnings(tmp_path, db):
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--urlconf",
        "tests.knowledge.urls",
        "--file",
        str(out),
    )
    schema = yaml.safe_load(out.read_text())
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/kb/faqs/{id}/"]) >= {"get", "patch", "delete"}
    upload = paths["/api/v1/kb/import/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    # Its own answers, plus the refusals every operation documents (kefu.api.document_refusals).
    assert set(upload["responses"]) == {"200", "202", "400", "401", "403", "429"}
    export_params = {p["name"] for p in paths["/api/v1/kb/export/"]["get"]["parameters"]}
    assert export_params == {"kind", "format"}
    faq = schema["components"]["schemas"]["Faq"]["properties"]
    assert faq["similar_questions"]["type"] == "array" and faq["answer_text"]["readOnly"]
