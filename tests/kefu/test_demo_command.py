"""`make demo` / `make run` (ops kefu_demo): the demo logins get random passwords, printed, new
on each run; the formerly published fixed passwords do not log in (issue 16, finding 10)."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

User = get_user_model()


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
        assert User.objects.get(username=username).check_password(password)
    assert not User.objects.get(username="admin").check_password("kefu-admin-demo")
    assert not User.objects.get(username="agent").check_password("kefu-agent-demo")

    second = run_demo()
    assert second["admin"] != first["admin"] and second["agent"] != first["agent"]
    assert not User.objects.get(username="agent").check_password(first["agent"])
    assert User.objects.get(username="agent").check_password(second["agent"])


def test_make_run_turns_the_demo_page_on():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run_recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "WIDGET_DEMO_PAGE=" in run_recipe and "kefu_serve" in run_recipe
