"""What the knowledge admins share: the merchants an admin user may run, the form that
validates with the services' rules and the admin that saves and deletes through them, and the
merchant a page of its own (knowledge gaps, duplicate entries) shows."""

from __future__ import annotations

import itertools

from django.core.exceptions import PermissionDenied

from kefu.errors import KefuError
from merchants.admin_scoping import (
    MerchantScopedAdmin,
    TenantRowForm,
    is_platform_admin,
    managed_ids,
)
from merchants.models import Merchant

from .. import services

GAP_SESSION_KEY = "kb_gap_groups"
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


def page_merchant(model_admin, request) -> tuple[Merchant, list[Merchant]]:
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
