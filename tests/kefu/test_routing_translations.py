"""Every user-facing string of the routing surfaces has its Chinese in a locale/zh_hans*.py
dictionary (the lead compiles them into the catalogue)."""

from __future__ import annotations

import runpy
from pathlib import Path

from django.utils import translation

from conversations import services
from widget.views import widget_strings

LOCALE = Path(__file__).resolve().parents[2] / "locale"


def zh() -> dict:
    merged = {}
    for part in sorted(LOCALE.glob("zh_hans*.py")):
        merged.update(runpy.run_path(str(part))["ZH"])
    return merged


def test_widget_strings_have_chinese():
    with translation.override("en"):
        strings = widget_strings()
    missing = [text for text in strings.values() if text not in zh()]
    assert not missing


def test_routing_surface_strings_have_chinese():
    own = runpy.run_path(str(LOCALE / "zh_hans_routing_surfaces.py"))["ZH"]
    for msgid in (services.R_OFFLINE, services.R_OFFLINE_CLOSED, services.R_OFFLINE_NOBODY):
        assert msgid in own
    for key, value in own.items():
        # Same placeholders on both sides, or formatting breaks in Chinese.
        assert sorted(_placeholders(key)) == sorted(_placeholders(value)), key


def _placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"%\(\w+\)s", text)
