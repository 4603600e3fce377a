"""Back office for the knowledge base: categories, FAQ entries, intents, synonyms and dictionary
words (merchant-scoped like every admin, merchants.admin_scoping), bulk import/export with a
progress page for large files, and the knowledge-gap report.

Every save and delete goes through knowledge.services (sanitising, validation, the KB version
bump and the debounced retraining), never straight to the ORM. Visitor questions in the gap
report are untrusted text: templates escape them (autoescape), nothing is marked safe.
"""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kefu.errors import KefuError
from merchants.admin_scoping import (
    MerchantScopedAdmin,
    TenantRowForm,
    is_platform_admin,
    managed_ids,
)
from merchants.models import Merchant

from .. import formats, importers, selectors, services
from ..models import (
    Category,
    DictionaryWord,
    Faq,
    FaqDuplicateDismissal,
    ImportJob,
    Intent,
    Synonym,
    UnansweredQuestion,
)

GAP_SESSION_KEY = "kb_gap_groups"
GAP_GROUPS_SHOWN = 200  # biggest first; the rest are asked once or twice
DUPLICATES_URL = "admin:knowledge_faqduplicatedismissal_changelist"


def admin_merchants(request):
    """Merchants whose knowledge base this admin user may run."""
    if is_platform_admin(request):
        return Merchant.objects.all()
    return Merchant.objects.filter(pk__in=managed_ids(request))


# --- Forms that validate with the services' rules ------------------------------------------------


class KbRowForm(TenantRowForm):
    """Runs the service's clean function, so the admin shows the same errors as the API."""

    clean_function = None  # set per admin
    # Service error field -> form field.
    field_map = {"category_id": "category"}

    def service_values(self, cleaned: dict) -> dict:
        values = {}
        for name in self.service_fields:
            form_name = self.field_map.get(name, name)
            if form_name in cleaned:
                value = cleaned[form_name]
                if name == "category_id":
                    value = value.pk if value else None
                values[name] = value
        return values

    def clean(self):
        cleaned = super().clean()
        merchant_id = self.row_merchant_id()
        if merchant_id is None or self.errors:
            return cleaned
        merged = {name: getattr(self.instance, name) for name in self.service_fields}
        merged.update(self.service_values(cleaned))
        try:
            type(self).clean_function(merchant_id=merchant_id, values=merged, pk=self.instance.pk)
        except KefuError as exc:
            name = self.field_map.get(exc.field, exc.field)
            self.add_error(name if name in self.fields else None, exc.message)
        return cleaned


class ServiceBackedAdmin(MerchantScopedAdmin):
    """Saves and deletes through knowledge.services."""

    form = KbRowForm
    service_fields: tuple[str, ...] = ()
    clean_function = None
    create_function = None
    update_function = None
    delete_function = None
    id_kwarg = ""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        form_class.clean_function = type(self).clean_function
        form_class.service_fields = self.service_fields
        return form_class

    def save_model(self, request, obj, form, change):
        if not is_platform_admin(request) and obj.merchant_id not in managed_ids(request):
            raise PermissionDenied
        values = form.service_values(form.cleaned_data)
        if change:
            saved = type(self).update_function(
                merchant_id=obj.merchant_id, **{self.id_kwarg: obj.pk}, **values
            )
        else:
            saved = type(self).create_function(merchant_id=obj.merchant_id, **values)
        # The admin goes on with `obj` (messages, redirect): give it the saved row's state.
        for f in obj._meta.concrete_fields:
            setattr(obj, f.attname, getattr(saved, f.attname))
        obj._state.adding = False

    def delete_model(self, request, obj):
        type(self).delete_function(merchant_id=obj.merchant_id, **{self.id_kwarg: obj.pk})

    def delete_queryset(self, request, queryset):
        rows = sorted(queryset.values_list("merchant_id", "pk"))
        for merchant_id, group in itertools.groupby(rows, key=lambda r: r[0]):
            services.kb_rows_delete(
                merchant_id=merchant_id, model=self.model, ids=[pk for _m, pk in group]
            )


class ImportExportMixin:
    """Import and export buttons on the change list, and their views, for `import_kind`."""

    change_list_template = "admin/knowledge/change_list.html"
    import_kind = ""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        own = [
            path(
                "import/", self.admin_site.admin_view(self.import_view), name="%s_%s_import" % info
            ),
            path(
                "export/", self.admin_site.admin_view(self.export_view), name="%s_%s_export" % info
            ),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        info = self.opts.app_label, self.opts.model_name
        extra_context["import_url"] = reverse("admin:%s_%s_import" % info)
        extra_context["export_url"] = reverse("admin:%s_%s_export" % info)
        return super().changelist_view(request, extra_context)

    def _merchant_from(self, request, raw) -> Merchant:
        merchant = admin_merchants(request).filter(pk=raw).first() if str(raw).isdigit() else None
        if merchant is None:
            raise Http404
        return merchant

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        merchants = admin_merchants(request)
        result = None
        if request.method == "POST":
            form = ImportForm(
                request.POST, request.FILES, merchants=merchants, kind=self.import_kind
            )
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    outcome = importers.kb_import_submit(
                        merchant=form.cleaned_data["merchant"],
                        kind=self.import_kind,
                        fmt=form.cleaned_data["format"],
                        file=upload,
                        mode=form.cleaned_data["mode"],
                        filename=upload.name,
                    )
                except KefuError as exc:
                    form.add_error(None, exc.message)
                else:
                    if isinstance(outcome, ImportJob):
                        return HttpResponseRedirect(
                            reverse("admin:knowledge_importjob_progress", args=[outcome.pk])
                        )
                    if outcome.ok:
                        messages.success(request, import_summary(outcome.as_dict()))
                        return HttpResponseRedirect(
                            reverse(
                                "admin:%s_%s_changelist"
                                % (self.opts.app_label, self.opts.model_name)
                            )
                        )
                    result = outcome.as_dict()
        else:
            form = ImportForm(merchants=merchants, kind=self.import_kind)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import %(name)s") % {"name": self.opts.verbose_name_plural},
            "form": form,
            "result": result,
            "columns": importers.COLUMNS[self.import_kind],
            "required": sorted(importers.REQUIRED[self.import_kind]),
            "pairs": self.import_kind == "intents",
        }
        return TemplateResponse(
            request, "admin/knowledge/import.html", context, status=400 if result else 200
        )

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        merchants = admin_merchants(request)
        fmt = request.GET.get("format", "csv")
        if fmt not in formats.FORMATS:
            raise Http404
        raw = request.GET.get("merchant")
        if raw is None and merchants.count() == 1:
            merchant = merchants.get()
        elif raw is None:
            # Several merchants (the platform operator): say whose knowledge base to export.
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "format": fmt,
                "title": gettext("Export %(name)s") % {"name": self.opts.verbose_name_plural},
                "merchants": merchants.order_by("name", "pk"),
            }
            return TemplateResponse(request, "admin/knowledge/export_choose.html", context)
        else:
            merchant = self._merchant_from(request, raw)
        filename, content_type, body = importers.export(
            merchant=merchant, kind=self.import_kind, fmt=fmt
        )
        response = FileResponse(
            iter([body]), content_type=content_type, as_attachment=True, filename=filename
        )
        response["Content-Length"] = str(len(body))
        return response


def import_summary(result: dict) -> str:
    return (
        gettext("Imported: %(created)d created, %(updated)d updated, %(deleted)d deleted.") % result
    )


class ImportForm(forms.Form):
    merchant = forms.ModelChoiceField(queryset=Merchant.objects.none(), label=_("merchant"))
    format = forms.ChoiceField(
        label=_("format"), choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("json", "JSON")]
    )
    mode = forms.ChoiceField(
        label=_("mode"),
        choices=[
            ("upsert", _("Add new rows and update existing ones")),
            ("replace", _("Replace: also delete rows missing from the file")),
        ],
    )
    file = forms.FileField(label=_("file"))

    def __init__(self, *args, merchants, kind, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merchant"].queryset = merchants
        if merchants.count() == 1:
            only = merchants.get()
            self.fields["merchant"].initial = only
            self.fields["merchant"].widget = forms.HiddenInput()
            self.fields["merchant"].disabled = True

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        fmt = cleaned.get("format")
        if upload and fmt:
            suffix = upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
            if suffix in formats.FORMATS and suffix != fmt:
                self.add_error(
                    "file",
                    gettext("This is a .%(suffix)s file; choose that format.") % {"suffix": suffix},
                )
            if upload.size > formats.MAX_FILE_BYTES:
                self.add_error(
                    "file",
                    gettext("The file is larger than %(n)d MB.")
                    % {"n": formats.MAX_FILE_BYTES // 2**20},
                )
        return cleaned


# --- Knowledge-base models -------------------------------------------------------------------------


@admin.register(Category)
class CategoryAdmin(ServiceBackedAdmin):
    list_display = ("name", "sort_order")
    search_fields = ("name",)
    fields = ("merchant", "name", "sort_order")
    service_fields = services.CATEGORY_FIELDS
    clean_function = services.category_clean
    create_function = services.category_create
    update_function = services.category_update
    delete_function = services.category_delete
    id_kwarg = "category_id"


class FaqForm(KbRowForm):
    class Meta:
        widgets = {
            "similar_questions": forms.Textarea(attrs={"rows": 4}),
            "keywords": forms.TextInput(attrs={"size": 60}),
        }
        help_texts = {
            "similar_questions": _("Other ways visitors ask the same question, one per line."),
            "answer": _(
                "Bold, italic, lists and links are kept; anything else is removed. "
                "The widget shows the answer as plain text."
            ),
            "keywords": _("Comma separated."),
        }


@admin.register(Faq)
class FaqAdmin(ImportExportMixin, ServiceBackedAdmin):
    form = FaqForm
    list_display = ("question", "category", "is_enabled", "valid_until", "hits", "updated_at")
    list_filter = ("is_enabled", ("category", admin.RelatedOnlyFieldListFilter), "valid_until")
    list_select_related = ("category", "merchant")
    search_fields = ("question", "similar_questions", "keywords", "answer")
    fields = (
        "merchant",
        "category",
        "question",
        "similar_questions",
        "answer",
        "keywords",
        "is_enabled",
        "valid_from",
        "valid_until",
        "hits",
    )
    readonly_fields = ("hits",)
    same_merchant_fields = ("category",)
    actions = ("enable_selected", "disable_selected")
    service_fields = services.FAQ_FIELDS
    clean_function = services.faq_clean
    create_function = services.faq_create
    update_function = services.faq_update
    delete_function = services.faq_delete
    id_kwarg = "faq_id"
    import_kind = "faqs"

    def _set_enabled(self, request, queryset, enabled: bool):
        rows = sorted(queryset.values_list("merchant_id", "pk"))
        changed = 0
        for merchant_id, group in itertools.groupby(rows, key=lambda r: r[0]):
            changed += services.faq_set_enabled(
                merchant_id=merchant_id, faq_ids=[pk for _m, pk in group], enabled=enabled
            )
        messages.success(request, gettext("FAQ entries changed: %(n)d.") % {"n": changed})

    @admin.action(description=_("Enable selected FAQ entries"))
    def enable_selected(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable selected FAQ entries"))
    def disable_selected(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["duplicates_url"] = reverse(DUPLICATES_URL)
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        gap = request.GET.get("gap")
        if not change and gap:
            # Created from a knowledge-gap group: those questions are now answered.
            ids = request.session.get(GAP_SESSION_KEY, {}).pop(gap, None)
            request.session.modified = True
            if ids:
                services.gap_resolve(merchant_id=obj.merchant_id, question_ids=ids, faq_id=obj.pk)


class IntentForm(KbRowForm):
    class Meta:
        widgets = {"examples": forms.Textarea(attrs={"rows": 6})}
        help_texts = {
            "examples": _("Phrases visitors use for this intent, one per line."),
            "slots": _(
                'Information to ask for, e.g. [{"name": "order_no", "prompt": "Your order '
                'number?", "pattern": "^\\\\d{10}$", "reprompt": "10 digits, please"}]'
            ),
        }


@admin.register(Intent)
class IntentAdmin(ImportExportMixin, ServiceBackedAdmin):
    form = IntentForm
    list_display = ("name", "action", "example_count", "is_enabled", "updated_at")
    list_filter = ("action", "is_enabled")
    search_fields = ("name", "examples")
    fields = ("merchant", "name", "examples", "answer", "action", "slots", "is_enabled")
    service_fields = services.INTENT_FIELDS
    clean_function = services.intent_clean
    create_function = services.intent_create
    update_function = services.intent_update
    delete_function = services.intent_delete
    id_kwarg = "intent_id"
    import_kind = "intents"

    @admin.display(description=_("examples"))
    def example_count(self, obj):
        return len(obj.examples.splitlines())


@admin.register(Synonym)
class SynonymAdmin(ImportExportMixin, ServiceBackedAdmin):
    list_display = ("word", "synonyms")
    search_fields = ("word", "synonyms")
    fields = ("merchant", "word", "synonyms")
    service_fields = services.SYNONYM_FIELDS
    clean_function = services.synonym_clean
    create_function = services.synonym_create
    update_function = services.synonym_update
    delete_function = services.synonym_delete
    id_kwarg = "synonym_id"
    import_kind = "synonyms"


@admin.register(DictionaryWord)
class DictionaryWordAdmin(ImportExportMixin, ServiceBackedAdmin):
    list_display = ("word", "frequency")
    search_fields = ("word",)
    fields = ("merchant", "word", "frequency")
    service_fields = services.DICTIONARY_FIELDS
    clean_function = services.dictionary_clean
    create_function = services.dictionary_word_create
    update_function = services.dictionary_word_update
    delete_function = services.dictionary_word_delete
    id_kwarg = "word_id"
    import_kind = "dictionary"


# --- Import progress ---------------------------------------------------------------------------------


@admin.register(ImportJob)
class ImportJobAdmin(MerchantScopedAdmin):
    """Large imports: a read-only list, and the progress page the import form redirects to."""

    manager_can_add = False
    manager_can_change = False
    list_display = (
        "filename",
        "kind",
        "status",
        "done_rows",
        "total_rows",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind")
    fields = (
        "merchant",
        "kind",
        "fmt",
        "mode",
        "filename",
        "status",
        "done_rows",
        "total_rows",
        "result",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, *args):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data")

    def get_urls(self):
        return [
            path(
                "<int:job_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="knowledge_importjob_progress",
            ),
            path(
                "<int:job_id>/status/",
                self.admin_site.admin_view(self.status_view),
                name="knowledge_importjob_status",
            ),
        ] + super().get_urls()

    def _job(self, request, job_id) -> ImportJob:
        job = self.get_queryset(request).filter(pk=job_id).first()
        if job is None:
            raise Http404
        return job

    def progress_view(self, request, job_id: int):
        job = self._job(request, job_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "job": job,
            "title": gettext("Importing %(name)s") % {"name": job.filename or job.kind},
            "status_url": reverse("admin:knowledge_importjob_status", args=[job.pk]),
        }
        return TemplateResponse(request, "admin/knowledge/import_progress.html", context)

    def status_view(self, request, job_id: int):
        return JsonResponse(job_status(self._job(request, job_id)))


def job_status(job: ImportJob) -> dict:
    finished = job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED)
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "done_rows": job.done_rows,
        "total_rows": job.total_rows,
        "finished": finished,
        "result": job.result if finished else None,
        "summary": import_summary(job.result) if job.status == ImportJob.Status.DONE else "",
    }


def _page_merchant(model_admin, request) -> tuple[Merchant, list[Merchant]]:
    """The merchant a page of its own (knowledge gaps, duplicate entries) shows: the one asked
    for by `?merchant=` / the form, among those the user administers, else the first of them;
    and all of those (the page offers a choice when there are several)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    merchants = list(admin_merchants(request).order_by("name", "pk"))
    if not merchants:
        raise PermissionDenied
    raw = request.POST.get("merchant") or request.GET.get("merchant")
    return next((m for m in merchants if str(m.pk) == raw), merchants[0]), merchants


# --- Knowledge gaps ------------------------------------------------------------------------------------


@admin.register(UnansweredQuestion)
class KnowledgeGapAdmin(MerchantScopedAdmin):
    """Questions the bot could not answer, grouped by similarity (knowledge.selectors.gap_groups),
    as suggestions for new FAQ entries."""

    manager_can_add = False
    manager_can_change = False

    def has_add_permission(self, request, *args):
        return False

    def changelist_view(self, request, extra_context=None):
        merchant, merchants = _page_merchant(self, request)
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


# --- Duplicate entries -------------------------------------------------------------------------


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
        merchant, merchants = _page_merchant(self, request)
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
