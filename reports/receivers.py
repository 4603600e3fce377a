"""Receivers of conversations' signals (connected in ReportsConfig.ready)."""

from __future__ import annotations

import logging

from celery import current_app

from .rollup import TRIGGER_KINDS

logger = logging.getLogger(__name__)

# Queued by name so this module need not import tasks.py (which imports the rollup services).
ROLLUP_TASK = "reports.tasks.event_rollup"


def event_recorded(sender, *, merchant_id: int, event_id: int, kind: str, **kwargs) -> None:
    """A fact committed: queue the rollup of its conversation's day. The signal comes after
    the commit, so the worker reads the row; a lost one is caught up by the beat's sweep."""
    if kind not in TRIGGER_KINDS:
        return
    try:
        # By name: a web process need not have imported the task module.
        current_app.send_task(
            ROLLUP_TASK, kwargs={"merchant_id": merchant_id, "event_id": event_id}
        )
    except Exception:  # the broker is down: the sweep will find the event
        logger.exception("reports: could not queue the rollup of event %s", event_id)
