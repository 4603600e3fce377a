"""Tenant matrix for every visitor client frame (tests/conversations/tenant_frames.py has the
world and the cases): vo, a visitor of merchant "other", and vb, another visitor of acme (an
outsider to visitor A's conversation), try every frame against acme's objects.
"""

import pytest

from tests.conversations.realtime_helpers import fresh_realtime  # noqa: F401 (autouse)
from tests.conversations.tenant_frames import (
    CASES,
    outsider_frame_touches_nothing_of_acme,
    world,  # noqa: F401 (fixture)
)

# cost: seven sockets and two 0.4 s silences a case (tests/conftest.py, estimated_seconds)
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cost(1)]

VISITOR_CASES = [c for c in CASES if c[1] in ("vo", "vb")]


@pytest.mark.parametrize("case", VISITOR_CASES, ids=[c[0] for c in VISITOR_CASES])
def test_outsider_frame_touches_nothing_of_acme(channel_layer_kind, world, case):  # noqa: F811 (the fixture)
    outsider_frame_touches_nothing_of_acme(world, case)
