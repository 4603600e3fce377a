"""Bulk import and export: the buttons and views every knowledge list has (ImportExportMixin),
the upload form, and the progress page of an import run by the worker (ImportJobAdmin)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kefu.errors import KefuError
from merchants.admin_scoping import MerchantScopedAdmin
from merchants.models import Merchant

from .. import formats, importers
from ..models import ImportJob
from .common import admin_merchants


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
