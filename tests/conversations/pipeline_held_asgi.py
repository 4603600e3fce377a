"""kefu.asgi with the post-commit step held back HOLD_PIPELINE_SECONDS before it starts, for
tests/conversations/test_pipeline.py: the daphne serving it stores and acknowledges visitor
messages as usual, and a test can kill it between the commit and the step."""

import os
import time

from kefu.asgi import application  # noqa: F401 - what daphne serves (sets Django up first)

# isort: split
from conversations import pipeline  # after Django is set up

_process = pipeline.visitor_messages_process


def _held(**kwargs):
    time.sleep(float(os.environ.get("HOLD_PIPELINE_SECONDS", "60")))
    return _process(**kwargs)


pipeline.visitor_messages_process = _held
