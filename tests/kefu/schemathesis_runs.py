"""Schemathesis over every operation of the OpenAPI schema (/api/schema/), against a real daphne
process on this run's database and channel layer (MariaDB + Redis in CI): no server error, and
every status code, content type, header and body the schema promises (issues 15 and 16).

The CLI runs in a subprocess: it is schemathesis's stable interface, and its own Hypothesis
run then never shares this process's event loop or database connection. The run is
deterministic (`--generation-deterministic`), so CI sees the same cases every time.

One run is three tests in three files, so that pytest-xdist (`--dist loadfile`, a file per
worker) can run them side by side; each seeds its own merchant on its own daphne:
test_api_fuzz.py as the merchant's integration on every operation but those that delete,
test_api_fuzz_destroy.py on those, on objects of their own (the spares), and
test_api_fuzz_anonymous.py as nobody.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from rest_framework.test import APIClient

from merchants.models import ApiToken, Membership
from tests import factories

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
# Per operation, in the fuzzing phase; the coverage phase (boundary and wrong-type values of
# every parameter and field, unexpected methods) makes most of the ~4,400 requests.
MAX_EXAMPLES = 5
# The operations that delete (DELETE, and erasing a visitor): a run of their own, on objects of
# their own (seed_merchant's spares).
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


def schema_paths() -> dict:
    return APIClient().get("/api/schema/", {"format": "json"}).json()["paths"]


def operation_ids(paths: dict) -> list[str]:
    return [op["operationId"] for ops in paths.values() for m, op in ops.items() if m in METHODS]


def operations_tested(output: str) -> int:
    """The number of operations a run tested, as its summary says."""
    return int(re.search(r"Tested: (\d+)", output)[1])


def run_as_the_merchant(server, tmp_path: Path, *, deleting: bool) -> None:
    """As the merchant's integration (its token, every phase, every check): the operations that
    delete (DESTROYS) on the spare objects when `deleting`, else every other operation on the
    first object of each kind. Between them, the two runs test every operation of the schema."""
    raw, ids, spares = seed_merchant()
    paths = schema_paths()
    operations = [o for o in operation_ids(paths) if bool(re.search(DESTROYS, o)) == deleting]
    assert operations
    output = schemathesis(
        server,
        tmp_path,
        config_file(tmp_path, "spare", {**ids, **spares}, paths)
        if deleting
        else config_file(tmp_path, "keep", ids, paths),
        "token-destroy" if deleting else "token",
        "--header",
        f"Authorization: Bearer {raw}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--include-operation-id-regex" if deleting else "--exclude-operation-id-regex",
        DESTROYS,
    )
    assert operations_tested(output) == len(operations), output[-3000:]
    assert_no_traceback(server)


def assert_no_traceback(server) -> None:
    log = server.log()
    assert "Traceback" not in log, log[-10000:]
