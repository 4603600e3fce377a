"""The back office's landing page as a dashboard: the last seven days of each merchant the user
runs, against the seven before, with a link to the full reports page."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.translation import gettext

from merchants.models import Merchant
from merchants.selectors import merchant_managed_ids

from ..rollup import merchant_zone
from ..selectors import Period, report_summary

register = template.Library()
DAYS = 7


@register.inclusion_tag("reports/dashboard.html")
def reports_dashboard(user):
    merchants = Merchant.objects.filter(pk__in=merchant_managed_ids(user=user), is_active=True)
    boards = []
    for merchant in merchants.order_by("name", "id")[:10]:
        today = timezone.localtime(timezone.now(), merchant_zone(merchant)).date()
        period = Period(today - dt.timedelta(days=DAYS - 1), today)
        summary = report_summary(merchant_id=merchant.pk, period=period)
        boards.append({"merchant": merchant, "period": period, **summary})
    return {"boards": boards}


@register.filter
def seconds(value):
    """A duration in whole seconds, short (the page's JavaScript says the same)."""
    if value is None:
        return "–"
    value = int(value)
    if value < 60:
        return gettext("%s s") % value
    if value < 3600:
        if value % 60:
            return gettext("%s min %s s") % (value // 60, value % 60)
        return gettext("%s min") % (value // 60)
    if value % 3600 // 60:
        return gettext("%s h %s min") % (value // 3600, value % 3600 // 60)
    return gettext("%s h") % (value // 3600)
