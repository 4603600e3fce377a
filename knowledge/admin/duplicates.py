"""The duplicate-entries page: pairs of FAQ entries to merge or mark as not duplicates."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext

from kefu.errors import KefuError
from merchants.admin_scoping import MerchantScopedAdmin
from merchants.models import Merchant

from .. import selectors, services
from ..models import Faq, FaqDuplicateDismissal
from .common import DUPLICATES_URL, page_merchant
from .entries import FaqAdmin


@admin.register(FaqDuplicateDismissal)
class DuplicateFaqAdmin(MerchantScopedAdmin):
    """FAQ entries that answer each other's questions (knowledge.selectors.faq_duplicate_pairs),
    side by side: merge one into the other (knowledge.services.faq_merge) or mark the pair
    "not duplicates". Entry texts are the merchant's own but rendered as text all the same."""

    manager_can_add = False
    manager_can_change = False

    def has_add_permission(self, request, *args):
        return False

    def changelist_view(self, request, extra_context=None):
        merchant, merchants = page_merchant(self, request)
        if request.method == "POST":
            if not FaqAdmin(Faq, self.admin_site).has_change_permission(request):
                raise PermissionDenied
            try:
                return self._act(request, merchant)
            except KefuError:
                # A foreign, missing or repeated id, or an unknown action: nothing changed.
                messages.error(
                    request, gettext("Those entries are not yours to merge, or are gone.")
                )
                return self._page(request, merchant, merchants, status=400)
        return self._page(request, merchant, merchants)

    def _page(self, request, merchant: Merchant, merchants: list, status: int = 200):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Duplicate entries"),
            "pairs": selectors.faq_duplicate_pairs(merchant_id=merchant.pk),
            "merchant": merchant,
            "merchants": merchants if len(merchants) > 1 else [],
            "faq_url": reverse("admin:knowledge_faq_changelist"),
            "gaps_url": reverse("admin:knowledge_unansweredquestion_changelist")
            + "?"
            + urlencode({"merchant": merchant.pk}),
        }
        return TemplateResponse(request, "admin/knowledge/duplicates.html", context, status=status)

    def _act(self, request, merchant: Merchant):
        def posted(name):
            raw = request.POST.get(name, "")
            return int(raw) if raw.isdigit() else None

        first, second = posted("first"), posted("second")
        action = request.POST.get("action")
        here = reverse(DUPLICATES_URL) + "?" + urlencode({"merchant": merchant.pk})
        if action in ("merge_second", "merge_first"):
            keep, merged = (first, second) if action == "merge_second" else (second, first)
            kept = services.faq_merge(merchant_id=merchant.pk, keep_id=keep, merge_id=merged)
            messages.success(
                request,
                gettext("Merged into “%(question)s”; the bot retrains shortly.")
                % {"question": kept.question},
            )
            return HttpResponseRedirect(here)
        if action == "dismiss":
            services.faq_duplicate_dismiss(merchant_id=merchant.pk, faq_ids=(first, second))
            messages.success(request, gettext("Marked as not duplicates."))
            return HttpResponseRedirect(here)
        raise KefuError("invalid", gettext("Unknown action."))
