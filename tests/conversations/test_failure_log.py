"""A channel layer outage must not flood the log: one traceback, then a count per interval."""

import logging

from conversations.realtime import ThrottledFailureLog


def fail(log, group="m1.agents"):
    try:
        raise ConnectionError("redis is down")
    except ConnectionError:
        log(group)


def test_an_outage_logs_one_traceback_then_counts(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("conversations.realtime.time.monotonic", lambda: clock[0])
    log = ThrottledFailureLog(every=10)
    with caplog.at_level(logging.ERROR, logger="conversations.realtime"):
        for _ in range(500):
            fail(log)
        assert len(caplog.records) == 1
        assert caplog.records[0].exc_info[0] is ConnectionError
        assert "0 similar failures" in caplog.records[0].getMessage()

        clock[0] += 9.9  # still inside the interval: nothing new
        fail(log)
        assert len(caplog.records) == 1

        clock[0] += 0.2
        fail(log, "v7")
        assert len(caplog.records) == 2
        # 499 after the first plus the one at 9.9 s were left out, and that is said.
        assert "group_send to v7 failed (500 similar failures" in caplog.records[1].getMessage()
