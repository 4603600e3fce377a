"""The knowledge-gap report: the bot's unanswered questions grouped, dismissed, or turned into
an FAQ entry."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext

from merchants.admin_scoping import MerchantScopedAdmin
from merchants.models import Merchant

from .. import selectors, services
from ..models import Faq, UnansweredQuestion
from .common import DUPLICATES_URL, GAP_SESSION_KEY, page_merchant
from .entries import FaqAdmin

GAP_GROUPS_SHOWN = 200  # biggest first; the rest are asked once or twice


@admin.register(UnansweredQuestion)
class KnowledgeGapAdmin(MerchantScopedAdmin):
    """Questions the bot could not answer, grouped by similarity (knowledge.selectors.gap_groups),
    as suggestions for new FAQ entries."""

    manager_can_add = False
    manager_can_change = False

    def has_add_permission(self, request, *args):
        return False

    def changelist_view(self, request, extra_context=None):
        merchant, merchants = page_merchant(self, request)
        if request.method == "POST":
            return self._act(request, merchant)
        groups = selectors.gap_groups(merchant_id=merchant.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Knowledge gaps"),
            "groups": groups[:GAP_GROUPS_SHOWN],
            "hidden_groups": max(len(groups) - GAP_GROUPS_SHOWN, 0),
            "merchant": merchant,
            "merchants": merchants if len(merchants) > 1 else [],
            "question_total": sum(g.count for g in groups),
            "suggestions": selectors.gap_suggestions(merchant_id=merchant.pk),
            "duplicates_url": reverse(DUPLICATES_URL) + "?" + urlencode({"merchant": merchant.pk}),
        }
        return TemplateResponse(request, "admin/knowledge/gaps.html", context)

    def _act(self, request, merchant: Merchant):
        ids = [int(i) for i in request.POST.getlist("question_ids") if i.isdigit()]
        # Only open questions of this merchant count, whatever ids were posted.
        ids = list(
            UnansweredQuestion.objects.filter(
                merchant_id=merchant.pk, pk__in=ids, dismissed=False, resolved_faq=None
            ).values_list("pk", flat=True)
        )
        here = (
            reverse("admin:knowledge_unansweredquestion_changelist")
            + "?"
            + urlencode({"merchant": merchant.pk})
        )
        if not ids:
            messages.warning(request, gettext("Those questions were already handled."))
            return HttpResponseRedirect(here)
        if request.POST.get("action") == "accept_suggestion":
            if not FaqAdmin(Faq, self.admin_site).has_change_permission(request):
                raise PermissionDenied
            count = services.gap_accept_suggestions(merchant_id=merchant.pk, question_ids=ids)
            messages.success(request, gettext("Added as similar questions: %(n)d.") % {"n": count})
            return HttpResponseRedirect(here)
        if request.POST.get("action") == "dismiss":
            count = services.gap_dismiss(merchant_id=merchant.pk, question_ids=ids)
            messages.success(request, gettext("Questions dismissed: %(n)d.") % {"n": count})
            return HttpResponseRedirect(here)
        if request.POST.get("action") == "create_faq":
            if not FaqAdmin(Faq, self.admin_site).has_add_permission(request):
                raise PermissionDenied
            texts = list(
                UnansweredQuestion.objects.filter(pk__in=ids)
                .order_by("-created_at")
                .values_list("text", flat=True)
            )
            representative = request.POST.get("representative", "")
            if representative not in texts:
                representative = texts[0]
            similar, seen = [], {representative}
            for text in texts:
                if text not in seen:
                    seen.add(text)
                    similar.append(text)
            key = str(min(ids))
            stash = request.session.get(GAP_SESSION_KEY, {})
            stash[key] = ids
            request.session[GAP_SESSION_KEY] = stash
            query = {
                "merchant": merchant.pk,
                "question": Truncator(representative).chars(500),
                "similar_questions": "\n".join(similar[:50]),
                "gap": key,
            }
            return HttpResponseRedirect(reverse("admin:knowledge_faq_add") + "?" + urlencode(query))
        raise Http404
