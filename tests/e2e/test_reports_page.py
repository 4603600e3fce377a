"""The reports page in Chromium, in Chinese and English: the key figures equal a direct count,
the charts are drawn by the vendored Chart.js, the heat map and breakdowns fill in, names are
text, exports download, a bad range is explained; an agent has no reports. Screenshots go to
var/screenshots/ (and $KEFU_SHOTS/reports/ when KEFU_SHOTS is set) to be looked at."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Label
from merchants.models import Membership
from reports import rollup
from tests import factories
from tests.reports import data

from .conftest import AGENT_PASSWORD, login, save_shot, shots_folder

SHOTS = shots_folder("reports")


@pytest.fixture
def boss(shop):
    return factories.member(
        shop, "boss", Membership.Role.ADMIN, password=AGENT_PASSWORD, display_name="店长"
    )


@pytest.fixture
def figures(shop, boss, agent):
    today = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(shop.timezone)).date()
    start = today - dt.timedelta(days=40)
    # One transaction: the same rows and the same post-commit signals (sent at its end), but
    # one commit instead of some two thousand (this is a transactional test: 20 to 36 s of
    # setup under load, each insert committed on its own).
    with transaction.atomic():
        data.build(shop, [boss, agent], start=start, days=40, n=220, seed=11)
    label = Label.objects.create(merchant=shop, name='<img src=x onerror="window.hacked=1">')
    label.conversations.add(*shop.conversations.order_by("-created_at")[20:25])
    rollup.merchant_rebuild(merchant_id=shop.pk)
    period_start = today - dt.timedelta(days=29)
    return data.direct(shop, period_start, today)[""]


def shoot(page, screenshots, name):
    page.screenshot(path=str(screenshots / name), full_page=True)
    save_shot(page, SHOTS, name, full_page=True)


@pytest.mark.parametrize(
    "locale, words",
    [
        ("zh-CN", {"title": "报表", "started": "发起的会话", "label_tab": "按标签"}),
        (
            "en-US",
            {"title": "Reports", "started": "Conversations started", "label_tab": "Per label"},
        ),
    ],
)
def test_the_reports_page_draws_the_figures(
    daphne_server, shop, boss, figures, new_page, screenshots, locale, words
):
    page, watch = new_page(locale)
    login(page, daphne_server.url, "boss")
    page.click("#reports-link")
    page.wait_for_url(re.compile(r"/workspace/\d+/reports/"))
    expect(page.locator("#reports")).to_have_attribute("data-loaded", re.compile(r"\d{4}-"))
    assert words["title"] in page.title()
    started = page.locator(".kpi[data-kpi=started]")
    expect(started.locator(".kpi-label")).to_have_text(words["started"])
    expect(started.locator(".kpi-value")).to_have_text(f"{figures['started']:,}")
    expect(page.locator(".kpi[data-kpi=missed] .kpi-value")).to_have_text(str(figures["missed"]))
    # Chart.js drew both charts (a chart instance per canvas).
    drawn = page.evaluate("['daily-chart','reasons-chart'].map(id => !!window.Chart.getChart(id))")
    assert drawn == [True, True]
    assert page.locator("#heatmap tbody tr").count() == 7
    assert page.locator("#heatmap tbody tr").first.locator("td").count() == 24
    expect(page.locator("#breakdown tbody tr").first).to_be_visible()
    shoot(page, screenshots, f"reports-{locale}.png")

    page.get_by_role("tab", name=words["label_tab"]).click()
    expect(page.locator("#breakdown tbody th").filter(has_text="<img src=x")).to_have_count(1)
    assert page.evaluate("window.hacked") is None  # a label's name is text, never markup
    with page.expect_download() as download:
        page.locator("#breakdown-exports .export", has_text="CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert "'=SUM(A1)" in [row[0] for row in rows]  # CSV injection defused in the file
    with page.expect_download() as download:
        page.locator(".exports[data-table=daily] .export", has_text="XLSX").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    shoot(page, screenshots, f"reports-{locale}-labels.png")

    # A reversed range is refused with the server's words, and the figures stay.
    page.fill("#range-from", "2026-05-10")
    page.fill("#range-to", "2026-05-01")
    page.click("#range button[type=submit]")
    expect(page.locator("#range-error")).to_be_visible()
    assert not watch.errors, watch.errors


def test_an_agent_has_no_reports(daphne_server, shop, agent, new_page):
    page, _ = new_page("en-US")
    login(page, daphne_server.url, "xiaomei")
    expect(page.locator("#reports-link")).to_have_count(0)
    response = page.goto(f"{daphne_server.url}/workspace/{shop.pk}/reports/")
    assert response.status == 403


def test_the_back_office_opens_with_the_dashboard(
    daphne_server, shop, figures, new_page, screenshots
):
    factories.member(shop, "owner", Membership.Role.OWNER, password=AGENT_PASSWORD, is_staff=True)
    page, watch = new_page("zh-CN")
    page.goto(f"{daphne_server.url}/admin/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", AGENT_PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    board = page.locator(".reports-dashboard")
    expect(board.locator("h2")).to_have_text("墨中商城：最近 7 天")
    expect(board.locator("a", has_text="全部报表")).to_be_visible()
    shoot(page, screenshots, "admin-dashboard-zh-CN.png")
    board.locator("a", has_text="全部报表").click()
    expect(page.locator("#reports")).to_have_attribute("data-loaded", re.compile(r"\d{4}-"))
    assert not watch.errors, watch.errors
