"""The reports page of the workspace (/workspace/<merchant>/reports/): a shell the browser fills
from the reports API (reports/static/reports/reports.js). Owners and admins only."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from merchants.selectors import membership_get


@login_required
def reports_page(request, merchant_id: int):
    membership = membership_get(merchant_id=merchant_id, user=request.user)
    if membership is None:
        raise Http404
    if not membership.is_manager:
        # Agents see no report, not even their own figures (docs/reports.md, "Who sees what").
        raise PermissionDenied
    return render(request, "reports/reports.html", {"membership": membership})
