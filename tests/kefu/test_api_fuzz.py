"""Schemathesis over every operation of the OpenAPI schema (/api/schema/), against a real daphne
process on this run's database and channel layer (MariaDB + Redis in CI): no server error, and
every status code, content type, header and body the schema promises (issues 15 and 16).

The CLI runs in a subprocess: it is schemathesis's stable interface, and its own Hypothesis
run then never shares this process's event loop or database connection. The run is
deterministic (`--generation-deterministic`), so CI sees the same cases every time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from merchants.models import ApiToken, Membership
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.live]

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
# Per operation, in the fuzzing phase; the coverage phase (boundary and wrong-type values of
# every parameter and field, unexpected methods) makes most of the ~4,400 requests.
MAX_EXAMPLES = 5
# The operations that delete (DELETE, and erasing a visitor): run last, on objects of their own.
DESTROYS = r"(_destroy|_erase_create)$"
METHODS = {"get", "post", "put", "patch", "delete"}
# The conformance checks, and that auth is enforced. Left out: positive_data_acceptance, which
# wants every schema-valid body accepted, while business rules refuse some with a documented
# 400 (a blank name, an unknown label id, a transfer without a target: 35 in a trial run);
# negative_data_rejection, which wants an empty query parameter refused where the schema says
# minLength 1 or a date, while list filters read `?q=`, `?view=`, `?to=` as absent on purpose
# (what an HTML form sends; 3 operations in a trial run, nothing else); and the stateful
# checks (use_after_free and others), which judge behaviour the schema does not promise.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
)


def seed_merchant() -> tuple[str, dict[str, int], dict[str, int]]:
    """A merchant with one of everything, made through the API itself. Returns the token, the
    id to use for each path's `{id}` (so the operations on one object reach it; random ids only
    ever meet the 404), and a second object per resource for DELETE and erase."""
    merchant = factories.merchant("模糊测试")
    owner = factories.member(merchant, "fuzz-owner", role=Membership.Role.OWNER)
    visitor = factories.visitor(merchant, name="访客", email="v@example.com")
    message = factories.visitor_message(visitor, "你好,我想退货")
    factories.agent_message(owner, message.conversation_id, "好的")
    raw = factories.api_token(merchant)
    # The per-token limit (600 a minute) would answer 429 to most of the run.
    ApiToken.objects.filter(merchant=merchant).update(rate_limit=1_000_000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    ids = {
        "/api/v1/conversations/{id}/": message.conversation_id,
        "/api/v1/visitors/{id}/": visitor.pk,
    }
    spares = {"/api/v1/visitors/{id}/": factories.visitor(merchant).pk}

    def create(path: str, body) -> None:
        made = []
        for n in ("1", "2"):
            response = client.post(path, body(n), format="json")
            assert response.status_code == 201, (path, response.content)
            made.append(response.json()["id"])
        item = path + ("{note_id}/" if path.endswith("notes/") else "{id}/")
        ids[item], spares[item] = made

    create("/api/v1/canned-responses/", lambda n: {"shortcut": f"hi{n}", "text": "您好"})
    create("/api/v1/labels/", lambda n: {"name": f"VIP{n}"})
    create("/api/v1/attributes/", lambda n: {"key": f"plan{n}", "name": f"套餐{n}"})
    create(
        "/api/v1/webhooks/",
        lambda n: {"url": f"https://example.com/{n}", "events": ["conversation.created"]},
    )
    create("/api/v1/kb/categories/", lambda n: {"name": f"售后{n}"})
    create("/api/v1/kb/faqs/", lambda n: {"question": f"怎么退货{n}", "answer": "七天无理由"})
    create("/api/v1/kb/intents/", lambda n: {"name": f"退货{n}", "examples": [f"我要退货{n}"]})
    create("/api/v1/kb/synonyms/", lambda n: {"word": f"退货{n}", "synonyms": ["退款"]})
    create("/api/v1/kb/dictionary/", lambda n: {"word": f"退货{n}"})
    create(f"/api/v1/visitors/{visitor.pk}/notes/", lambda n: {"body": f"老客户{n}"})
    # The notes path as the schema spells it.
    for table in (ids, spares):
        table["/api/v1/visitors/{id}/notes/{note_id}/"] = table.pop(
            f"/api/v1/visitors/{visitor.pk}/notes/{{note_id}}/"
        )
    return raw, ids, spares


def config_file(tmp_path: Path, name: str, ids: dict[str, int], paths) -> Path:
    """schemathesis.toml: for every path with an `{id}`, the seeded object of its resource.
    (One entry per path: schemathesis caches an operation's settings by path, so per-method
    entries of one path are not reliable.)"""
    lines = []
    for path in paths:
        params = {}
        for prefix, value in ids.items():  # shortest first: an inner id follows the outer
            if path.startswith(prefix):
                params[prefix.rsplit("{", 1)[1].rstrip("}/")] = value
        if params:
            values = ", ".join(f"{k} = {v}" for k, v in params.items())
            lines += ["[[operations]]", f'include-path = "{path}"', f"parameters = {{ {values} }}"]
    config = tmp_path / f"schemathesis-{name}.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def schemathesis(server, tmp_path: Path, config: Path, name: str, *args: str) -> str:
    """Run the CLI; returns its output (also in tmp_path/schemathesis-NAME.txt) or fails with
    it."""
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(config),
            "run",
            f"{server.url}/api/schema/?format=json",
            "--url",
            server.url,
            "--generation-deterministic",
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "30",
            "--checks",
            ",".join(CHECKS),
            *args,
        ],
        cwd=tmp_path,
        env=dict(os.environ, NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=500,
    )
    output = result.stdout + result.stderr
    (tmp_path / f"schemathesis-{name}.txt").write_text(output)
    assert result.returncode == 0, output[-30000:]
    return output


# About 4,400 requests: ~2 minutes on an idle 2-core runner, up to ~5 on a loaded one (the
# suite's default timeout is 180 s).
@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing_over_every_operation(daphne_server, tmp_path):
    raw, ids, spares = seed_merchant()
    paths = APIClient().get("/api/schema/", {"format": "json"}).json()["paths"]
    operations = sum(1 for ops in paths.values() for method in ops if method in METHODS)
    token = ("--header", f"Authorization: Bearer {raw}", "--max-examples", str(MAX_EXAMPLES))
    phases = ("--phases", "examples,coverage,fuzzing")
    # As the merchant's integration: every check on every operation; first all but those that
    # delete, on the first object of each kind, then those, on the second.
    output = schemathesis(
        daphne_server,
        tmp_path,
        config_file(tmp_path, "keep", ids, paths),
        "token",
        *token,
        *phases,
        "--exclude-operation-id-regex",
        DESTROYS,
    )
    tested = int(re.search(r"Tested: (\d+)", output)[1])
    output = schemathesis(
        daphne_server,
        tmp_path,
        config_file(tmp_path, "spare", {**ids, **spares}, paths),
        "token-destroy",
        *token,
        *phases,
        "--include-operation-id-regex",
        DESTROYS,
    )
    tested += int(re.search(r"Tested: (\d+)", output)[1])
    assert tested == operations, output[-3000:]
    # As nobody: every operation refuses with its documented 401 body.
    output = schemathesis(
        daphne_server,
        tmp_path,
        config_file(tmp_path, "keep", ids, paths),
        "anonymous",
        "--phases",
        "fuzzing",
        "--max-examples",
        "2",
        "--generation-with-security-parameters",
        "false",
    )
    assert f"Tested: {operations}" in output, output[-3000:]
    log = daphne_server.log()
    assert "Traceback" not in log, log[-10000:]


def test_a_malformed_upload_gets_the_api_error_not_twisted_bare_400(daphne_server):
    """Found by schemathesis: Twisted parsed multipart bodies before daphne and answered a
    malformed one itself, with an empty 400 (kefu/asgi.py)."""
    merchant = factories.merchant("上传")
    visitor = factories.visitor(merchant)
    raw = factories.api_token(merchant)
    request = urllib.request.Request(
        f"{daphne_server.url}/api/v1/visitors/{visitor.pk}/block/",
        data=b"--c637e12e--\r\n",
        headers={
            "Authorization": f"Bearer {raw}",
            "Content-Type": "multipart/form-data; boundary=c637e12e",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, content_type, body = (
                response.status,
                response.headers["Content-Type"],
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        status, content_type, body = exc.code, exc.headers["Content-Type"], exc.read()
    # Django reads it as a form with no fields (the reason is optional): blocked.
    assert (status, content_type) == (200, "application/json"), (status, body)
    assert json.loads(body)["blocked"] is True
