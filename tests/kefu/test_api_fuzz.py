"""Schemathesis as the merchant's integration, on every operation of the OpenAPI schema but
those that delete (tests/kefu/schemathesis_runs.py says how the run is split), and a finding of
it kept as a test of its own."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests import factories
from tests.kefu.schemathesis_runs import run_as_the_merchant

pytestmark = [pytest.mark.slow, pytest.mark.live]


# Most of the ~4,400 requests of the three runs: ~2 minutes on an idle 2-core runner, up to ~5 on a loaded one (the
# suite's default timeout is 180 s).
@pytest.mark.timeout(600)
@pytest.mark.cost(120)
def test_schemathesis_finds_nothing_over_every_operation_but_those_that_delete(
    daphne_server, tmp_path
):
    run_as_the_merchant(daphne_server, tmp_path, deleting=False)


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
