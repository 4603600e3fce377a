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
    responses = []
    page.on("response", lambda response: responses.append(response))
    errors = []
    page.on(
        "console",
        lambda msg: (
            errors.append((msg.text, msg.location.get("url"))) if msg.type == "error" else None
        ),
    )
    login(page, daphne_server.url, "xiaomei")
    # Written by session.js once the socket core says session.ready, through gettext().
    expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
    expect(page.locator("#conn")).to_have_text("已连接")
    expect(page.locator("#agent-list li.me")).to_have_count(1)  # team.js drew the team

    entry = page.locator('script[type="module"]')
    expect(entry).to_have_count(1)
    assert entry.get_attribute("src").endswith("/static/workspace/workspace.js")
    assert page.locator("script:not([src])").count() == 0  # the config is in data- attributes

    scripts = [r for r in responses if r.url.endswith(".js")]
    loaded = {r.url.split("/static/", 1)[-1]: r for r in scripts if "/static/" in r.url}
    # The entry, its modules and the shared socket core, each fetched once and as JavaScript
    # (browsers refuse a module served with another type).
    assert {
        "workspace/workspace.js",
        "workspace/session.js",
        "workspace/thread.js",
        "realtime/socket.js",
    } <= set(loaded)
    for name, response in loaded.items():
        assert response.status == 200, name
        assert "javascript" in response.headers["content-type"], name
    assert len([r for r in scripts if "/static/" in r.url]) == len(loaded)

    # The browser's own request for /favicon.ico (the app has none) is not the page's doing.
    errors = [e for e in errors if not (e[1] or "").endswith("/favicon.ico")]
    failed = [(r.status, r.url) for r in responses if r.status >= 400]
    assert not errors and not watch.errors and not failed, (errors, watch.errors, failed)
