"""How the tests launch Chromium (tests/conftest.py, launch_chromium): Playwright's own switches
kept, the address bar's WebUI popups gone."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.conftest import launch_chromium, require_chromium

pytestmark = pytest.mark.browser


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def browser_command_line() -> str:
    """The command line of the Chromium browser process this test's Playwright started."""
    for pid in descendants(os.getpid()):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in args)
        if "--remote-debugging-pipe" in line and "--type=" not in line:
            return line
    raise AssertionError("no Chromium browser process under this test")


def test_playwrights_disabled_features_are_kept_and_the_omnibox_popups_never_built():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            given = re.findall(r"--disable-features=(\S*)", browser_command_line())
            # Playwright's list comes first, ours last, and only the last counts.
            assert len(given) == 2, given
            assert set(given[0].split(",")) <= set(given[1].split(","))

            page = browser.new_context().new_page()
            page.goto("data:text/html,<p>hi</p>")
            session = browser.new_browser_cdp_session()
            # Chromium builds the popups right after a window opens (within 0.5 s on a loaded
            # machine, as two "browser_ui" targets); give it a second.
            time.sleep(1)
            targets = session.send("Target.getTargets", {"filter": [{}]})["targetInfos"]
            assert [t["url"] for t in targets if t["type"] == "browser_ui"] == []
        finally:
            browser.close()
