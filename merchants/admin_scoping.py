"""Tenant scoping for the Django admin (the back office).

Who may do what is decided by merchant membership, not by Django's per-model permission table,
so a merchant owner needs no manual permission setup:

- a superuser sees and edits everything (the platform operator);
- a staff user who is owner or admin of some merchants ("a manager") sees and edits only those
  merchants' rows, and every foreign-key choice offered to them is limited to those merchants;
- anyone else (an agent-only staff user, say) gets nothing: no app on the index, 403 on URLs.

Rows of other merchants are simply absent from the manager's querysets, so their URLs end in the
admin's "does not exist" redirect instead of the page.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _

from merchants.audit import audit_record
from merchants.models import Membership, Merchant
from merchants.selectors import merchant_managed_ids


def is_platform_admin(request) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.is_superuser)


def managed_ids(request) -> frozenset[int]:
    """Merchants the requesting user manages; computed once per request."""
    cached = getattr(request, "_kefu_admin_managed_ids", None)
    if cached is None:
        user = request.user
        if user.is_active and user.is_staff:
            cached = frozenset(merchant_managed_ids(user=user))
        else:
            cached = frozenset()
        request._kefu_admin_managed_ids = cached
    return cached


def member_users(merchant_ids) -> QuerySet:
    """Users with a membership (any role) in one of these merchants."""
    member_ids = Membership.objects.filter(merchant_id__in=merchant_ids).values("user_id")
    return get_user_model().objects.filter(pk__in=member_ids)


def rows_of(model: type[Model], merchant_ids) -> QuerySet:
    """The rows of `model` a manager of `merchant_ids` may pick in a form. Fails closed: a model
    this function does not know how to scope offers no choices at all."""
    if model is Merchant:
        return Merchant.objects.filter(pk__in=merchant_ids)
    if model is get_user_model():
        return member_users(merchant_ids)
    if any(f.name == "merchant" for f in model._meta.get_fields()):
        return model._default_manager.filter(merchant_id__in=merchant_ids)
    return model._default_manager.none()


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A changelist filter on a relation (Team, assignee, category, ...) whose choices for a
    manager are `rows_of` their merchants: the plain RelatedFieldListFilter lists every row of
    the related table, every merchant's team names included (issue 16, finding 4)."""

    def field_choices(self, field, request, model_admin):
        if is_platform_admin(request):
            return super().field_choices(field, request, model_admin)
        allowed = rows_of(field.related_model, managed_ids(request)).values("pk")
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, limit_choices_to={"pk__in": allowed}, ordering=ordering
        )


def scoped_list_filter(model: type[Model], spec):
    """`spec` (a list_filter entry) with every relation filter made a ScopedRelatedFieldListFilter;
    RelatedOnlyFieldListFilter already takes its choices from the scoped queryset."""
    if isinstance(spec, str):
        path, filter_class = spec, None
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        path, filter_class = spec
    else:
        return spec  # a SimpleListFilter: it writes its own (scoped) lookups
    if filter_class is not None and (
        not issubclass(filter_class, admin.RelatedFieldListFilter)
        or issubclass(filter_class, admin.RelatedOnlyFieldListFilter)
    ):
        return spec
    try:
        field = get_fields_from_path(model, path)[-1]
    except Exception:  # noqa: BLE001 - not a field path; Django's own checks report it
        return spec
    if getattr(field, "is_relation", False) and field.related_model is not None:
        return (path, ScopedRelatedFieldListFilter)
    return spec


class TenantRowForm(forms.ModelForm):
    """Refuses links across merchants: a conversation's visitor must be of the conversation's
    merchant, its assignee a member of it. The choices offered to a manager are already limited
    to the merchants they manage; this also holds when one user manages several merchants, and
    for superusers, whose choices are not limited at all."""

    # Set by MerchantScopedAdmin.get_form from the admin's attributes.
    same_merchant_fields: tuple[str, ...] = ()
    member_fields: tuple[str, ...] = ()

    def row_merchant_id(self) -> int | None:
        if "merchant" in self.cleaned_data:
            merchant = self.cleaned_data["merchant"]
            return merchant.pk if merchant else None
        return self.instance.merchant_id

    def clean(self):
        cleaned = super().clean()
        merchant_id = self.row_merchant_id()
        if merchant_id is None:
            return cleaned  # the merchant field itself reports the missing value
        for name in self.same_merchant_fields:
            value = cleaned.get(name)
            if value is not None and value.merchant_id != merchant_id:
                self.add_error(name, _("Choose one that belongs to the same merchant."))
        for name in self.member_fields:
            value = cleaned.get(name)
            if (
                value is not None
                and not Membership.objects.filter(merchant_id=merchant_id, user=value).exists()
            ):
                self.add_error(name, _("Choose a member of the same merchant."))
        return cleaned


class ScopedPermissionsMixin:
    """Permission hooks driven by membership role instead of Django's permission table."""

    # Manager rights on this model; superusers may always do everything.
    manager_can_add = True
    manager_can_change = True
    manager_can_delete = True

    def merchant_id_of(self, obj) -> int:
        return obj.merchant_id

    def manages(self, request, obj) -> bool:
        ids = managed_ids(request)
        return bool(ids) and (obj is None or self.merchant_id_of(obj) in ids)

    def has_module_permission(self, request):
        return is_platform_admin(request) or bool(managed_ids(request))

    def has_view_permission(self, request, obj=None):
        return is_platform_admin(request) or self.manages(request, obj)

    def has_add_permission(self, request, *args):
        # *args: inlines receive the parent object as well.
        return is_platform_admin(request) or (self.manager_can_add and self.manages(request, None))

    def has_change_permission(self, request, obj=None):
        return is_platform_admin(request) or (
            self.manager_can_change and self.manages(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return is_platform_admin(request) or (
            self.manager_can_delete and self.manages(request, obj)
        )


class AuditedAdminMixin:
    """Every add, change and delete made through the admin also goes to the merchant's audit
    log (Django's own LogEntry is global and not shown to merchants)."""

    def _audit(self, request, obj, action: str, message) -> None:
        merchant_id = self.merchant_id_of(obj)
        if merchant_id is None:
            return
        # Django's change message: a list like [{"changed": {"fields": [...]}}], JSON-safe.
        message = json.loads(json.dumps(message or "", ensure_ascii=False, default=str))
        audit_record(
            merchant_id=merchant_id,
            action=action,
            actor=request.user,
            target=f"{obj._meta.verbose_name}: {obj}",
            detail={"model": obj._meta.label_lower, "id": obj.pk, "change": message},
        )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, "admin.add", message)
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, obj, "admin.change", message)
        return entry

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)
        for obj in queryset:
            self._audit(request, obj, "admin.delete", "")
        return entries


class MerchantScopedAdmin(AuditedAdminMixin, ScopedPermissionsMixin, admin.ModelAdmin):
    """ModelAdmin for a row with a `merchant` foreign key."""

    form = TenantRowForm
    # Foreign keys to tenant rows that must belong to the row's merchant.
    same_merchant_fields: tuple[str, ...] = ()
    # Foreign keys to users that must be members of the row's merchant.
    member_fields: tuple[str, ...] = ()

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if is_platform_admin(request):
            return qs
        return qs.filter(merchant_id__in=managed_ids(request))

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # Rows never move between merchants: their conversations, messages and visitors would
        # stay behind in the old one.
        if obj is not None and "merchant" not in readonly:
            readonly.insert(0, "merchant")
        return readonly

    def get_list_filter(self, request):
        filters = [scoped_list_filter(self.model, f) for f in super().get_list_filter(request)]
        if is_platform_admin(request) or len(managed_ids(request)) > 1:
            # RelatedOnly: the filter lists merchants present in the (scoped) rows, never all.
            filters.insert(0, ("merchant", admin.RelatedOnlyFieldListFilter))
        return filters

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if (
            is_platform_admin(request) or len(managed_ids(request)) > 1
        ) and "merchant" not in columns:
            columns.append("merchant")
        return columns

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        single = None
        if not is_platform_admin(request):
            ids = managed_ids(request)
            kwargs["queryset"] = rows_of(db_field.related_model, ids)
            if db_field.name == "merchant" and len(ids) == 1:
                # One merchant: nothing to choose. Hidden and disabled, so Django takes the value
                # from `initial` and ignores whatever a crafted POST sends.
                single = next(iter(ids))
                kwargs["widget"] = forms.HiddenInput()
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if single is not None:
            field.disabled = True
            field.initial = single
        return field

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        # get_form builds a fresh class on each call, so these attributes stay per request.
        form_class.same_merchant_fields = self.same_merchant_fields
        form_class.member_fields = self.member_fields
        return form_class

    def save_model(self, request, obj, form, change):
        if not is_platform_admin(request) and obj.merchant_id not in managed_ids(request):
            # Unreachable through the form (choices are scoped); kept so a future form change
            # cannot write into another merchant.
            raise PermissionDenied
        super().save_model(request, obj, form, change)
