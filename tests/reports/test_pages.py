"""The reports page and the back office's dashboard: owners and admins only, their own
merchant only."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from reports import rollup
from tests import factories


def test_the_page_is_for_owners_and_admins_of_the_merchant(client, acme, alice, bob, charlie):
    url = f"/workspace/{acme.pk}/reports/"
    client.force_login(alice.user)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert page.status_code == 200
    text = page.content.decode()
    assert "报表" in text and "vendor/chartjs/chart.umd.js" in text
    assert "cdn" not in text.lower()
    workspace = client.get(f"/workspace/{acme.pk}/").content.decode()
    assert f'href="/workspace/{acme.pk}/reports/"' in workspace
    client.force_login(bob.user)
    assert client.get(url).status_code == 403
    assert "/reports/" not in client.get(f"/workspace/{acme.pk}/").content.decode()
    client.force_login(charlie.user)
    assert client.get(url).status_code == 404


def test_the_vendored_chart_library_carries_its_licence():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "reports" / "static" / "vendor" / "chartjs"
    assert (
        "MIT" in (folder / "LICENSE.md").read_text()
        or "Permission is hereby granted" in (folder / "LICENSE.md").read_text()
    )
    assert (folder / "chart.umd.js").read_text()[:200].count("Chart.js v4.4.7") == 1


def test_the_back_office_opens_with_the_last_seven_days(client, acme, alice, other, charlie):
    visitor = factories.visitor(acme, name="访客")
    factories.visitor_message(visitor)
    factories.visitor_message(factories.visitor(other, name="别家"))
    today = timezone.localtime(timezone.now(), rollup.merchant_zone(acme)).date()
    rollup.days_rollup(merchant_id=acme.pk, start=today - dt.timedelta(days=1), end=today)
    rollup.days_rollup(merchant_id=other.pk, start=today - dt.timedelta(days=1), end=today)
    client.force_login(alice.user)
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Acme 商城: the last 7 days" in page
    assert "Other Shop" not in page
    row = page.split("Conversations started", 1)[1].split("</tr>", 1)[0]
    assert "<td>1</td><td>0</td>" in row
    client.force_login(charlie.user)
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Other Shop: the last 7 days" in page and "Acme" not in page
