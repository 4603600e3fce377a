"""`make demo` / `make run` (ops kefu_demo): the demo logins get random passwords, printed, new
on each run; the formerly published fixed passwords do not log in (issue 16, finding 10)."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command


def run_demo() -> dict[str, str]:
    out = io.StringIO()
    call_command("kefu_demo", base_url="http://127.0.0.1:8000", stdout=out)
    return dict(re.findall(r"login (admin|agent) / (\S+)", out.getvalue()))


@pytest.mark.django_db
def test_demo_passwords_are_random_printed_and_renewed():
    first = run_demo()
    assert set(first) == {"admin", "agent"}
    assert len(first["admin"]) >= 12 and first["admin"] != first["agent"]
    for username, password in first.items():
        assert authenticate(username=username, password=password) is not None
    assert authenticate(username="admin", password="kefu-admin-demo") is None
    assert authenticate(username="agent", password="kefu-agent-demo") is None

    second = run_demo()
    assert second["admin"] != first["admin"] and second["agent"] != first["agent"]
    assert authenticate(username="agent", password=first["agent"]) is None
    assert authenticate(username="agent", password=second["agent"]) is not None


def test_make_run_turns_the_demo_page_on():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run_recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "WIDGET_DEMO_PAGE=" in run_recipe and "kefu_serve" in run_recipe
