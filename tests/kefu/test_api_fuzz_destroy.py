"""Schemathesis as the merchant's integration on the operations that delete (DELETE, erasing a
visitor), on objects of their own: seed_merchant's spares (tests/kefu/schemathesis_runs.py)."""

from __future__ import annotations

import pytest

from tests.kefu.schemathesis_runs import run_as_the_merchant

pytestmark = [pytest.mark.slow, pytest.mark.live]


@pytest.mark.timeout(600)
@pytest.mark.cost(25)
def test_schemathesis_finds_nothing_over_the_operations_that_delete(daphne_server, tmp_path):
    run_as_the_merchant(daphne_server, tmp_path, deleting=True)
