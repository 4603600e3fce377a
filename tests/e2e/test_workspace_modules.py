"""The workspace page loads as native ES modules (no build step): every module is served with a
JavaScript type, the graph runs without a console error, and Django's JavaScript catalogue
still translates what the modules write."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_workspace_loads_as_modules_without_errors(daphne_server, shop, agent, new_page):
    page, watch = new_page()  # zh-CN, as the merchant's agents use it
    scripts = []
    page.on("response", lambda r: scripts.append(r) if r.url.endswith(".js") else None)
    login(page, daphne_server.url, "xiaomei")
    # Written by session.js once the socket core says session.ready, through gettext().
    expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
    expect(page.locator("#conn")).to_have_text("已连接")
    expect(page.locator("#agent-list li.me")).to_have_count(1)  # team.js drew the team

    entry = page.locator('script[type="module"]')
    expect(entry).to_have_count(1)
    assert entry.get_attribute("src").endswith("/static/workspace/workspace.js")
    assert page.locator("script:not([src])").count() == 0  # the config is in data- attributes

    loaded = {r.url.split("/static/", 1)[-1]: r for r in scripts if "/static/" in r.url}
    # The entry, its modules and the shared socket core, each fetched once and as JavaScript
    # (browsers refuse a module served with another type).
    assert {"workspace/workspace.js", "workspace/session.js", "workspace/thread.js",
            "realtime/socket.js"} <= set(loaded)
    for name, response in loaded.items():
        assert response.status == 200, name
        assert "javascript" in response.headers["content-type"], name
    assert len([r for r in scripts if "/static/" in r.url]) == len(loaded)

    errors = [line for line in watch.console if line.startswith("error")]
    assert not errors and not watch.errors, (errors, watch.errors)
