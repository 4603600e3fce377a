"""Schemathesis as nobody: every operation of the OpenAPI schema refuses with its documented 401
body (tests/kefu/schemathesis_runs.py)."""

from __future__ import annotations

import pytest

from tests.kefu.schemathesis_runs import (
    assert_no_traceback,
    config_file,
    operation_ids,
    schema_paths,
    schemathesis,
    seed_merchant,
)

pytestmark = [pytest.mark.slow, pytest.mark.live]


@pytest.mark.timeout(600)
@pytest.mark.cost(12)
def test_schemathesis_as_nobody_gets_the_documented_401_everywhere(daphne_server, tmp_path):
    _, ids, _ = seed_merchant()
    paths = schema_paths()
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
    assert f"Tested: {len(operation_ids(paths))}" in output, output[-3000:]
    assert_no_traceback(daphne_server)
