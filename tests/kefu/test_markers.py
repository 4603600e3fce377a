"""The `slow` marker (tests/conftest.py): a test that starts a process or a browser carries it,
so `make test-fast` (-m "not slow") never starts one."""

from __future__ import annotations

import inspect

from tests.conftest import SLOW_FIXTURES, SLOW_MARKS

# What starts a process or a browser when a fixture's own code calls it.
STARTERS = (
    "Popen(",
    "DaphneProcess(",
    "RedisServer(",
    "Servers(",
    "worker_factory(",
    "launch_chromium(",
    "sync_playwright(",
)


def test_collected_tests_that_start_processes_are_marked_slow(request):
    unmarked = [
        item.nodeid
        for item in request.session.items
        if (
            SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or any(item.get_closest_marker(name) for name in SLOW_MARKS)
        )
        and not item.get_closest_marker("slow")
    ]
    assert unmarked == []


def test_every_fixture_that_starts_a_process_is_in_the_rule(request):
    """A fixture whose code starts a process or a browser is one of SLOW_FIXTURES or uses one
    (so the tests using it are marked). Checks every fixture the collected tests use."""
    fixturedefs = {}
    for item in request.session.items:
        info = getattr(item, "_fixtureinfo", None)  # pytest's per-test fixture closure
        for name, defs in info.name2fixturedefs.items() if info else ():
            for fixturedef in defs:
                fixturedefs[(name, fixturedef.func)] = fixturedef
    missed = []
    for (name, func), fixturedef in fixturedefs.items():
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            continue
        if (
            any(starter in source for starter in STARTERS)
            and name not in SLOW_FIXTURES
            and not SLOW_FIXTURES.intersection(fixturedef.argnames)
        ):
            missed.append(f"{name} ({inspect.getsourcefile(func)})")
    assert missed == []


def test_the_rule_names_the_process_fixtures():
    assert {"daphne_server", "start_celery_worker", "browser", "servers"} <= SLOW_FIXTURES
    assert {"live", "browser"} <= SLOW_MARKS
