"""The sign-in form and the merchant choice, through the browser."""

import re

import pytest
from playwright.sync_api import expect

from merchants.models import Membership
from tests import factories

from .conftest import AGENT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_login_errors_next_and_merchant_choice(daphne_server, shop, agent, new_page, screenshots):
    second = factories.merchant("第二家店", allowed_origins=daphne_server.url)
    factories.member(second, "xiaomei", Membership.Role.AGENT, password=None, display_name="美美")
    page, watch = new_page()
    page.goto(f"{daphne_server.url}/workspace/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/workspace/$"))

    page.fill("#id_username", "xiaomei")
    page.fill("#id_password", "wrong password")
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    expect(page.locator(".alert")).to_be_visible()
    expect(page.locator("#id_username")).to_have_value("xiaomei")
    page.screenshot(path=str(screenshots / "login-error.png"))

    page.fill("#id_password", AGENT_PASSWORD)
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    # `next` survived the failed attempt; with two merchants the index asks which one.
    expect(page).to_have_url(f"{daphne_server.url}/workspace/")
    links = page.locator(".merchant-list a")
    expect(links).to_have_count(2)
    expect(links.locator("strong")).to_have_text(sorted([shop.name, second.name]))
    page.screenshot(path=str(screenshots / "merchant-choice.png"))

    links.filter(has_text="第二家店").click()
    expect(page).to_have_url(f"{daphne_server.url}/workspace/{second.pk}/")
    expect(page.locator(".topbar .me")).to_have_text("美美")
    expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
    expect(page.locator("#conv-empty")).to_be_visible()
    assert watch.errors == []
