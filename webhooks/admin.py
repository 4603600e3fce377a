"""Back office: a merchant's webhook endpoints (the secret shown once, at creation) and the
delivery log with every attempt and a "redeliver" action; scoped like every tenant page
(merchants/admin_scoping.py). Writes go through webhooks.services."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from merchants.admin_scoping import (
    MerchantScopedAdmin,
    TenantRowForm,
    is_platform_admin,
    managed_ids,
)

from . import http, services
from .models import SUBSCRIBABLE, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class EndpointForm(TenantRowForm):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(kind.value, kind.label) for kind in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("merchant", "url", "description", "events", "is_active")

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            http.check_url(url)
        except http.Refused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(MerchantScopedAdmin):
    form = EndpointForm
    list_display = ("url", "is_active", "event_list", "failures_in_a_row", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = (
        "failures_in_a_row",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "previous_secret_expires_at",
    )
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        fields = ["merchant", "url", "description", "events", "is_active"]
        if obj is not None:
            fields += ["failures_in_a_row", "disabled_at", "disabled_reason", "created_at"]
            if obj.previous_secret_expires_at is not None:
                fields.append("previous_secret_expires_at")
        return fields

    @admin.action(
        description=_("Rotate the signing secret (the old one keeps signing for a grace period)"),
        permissions=["change"],
    )
    def rotate_secret(self, request, queryset):
        # The queryset is already scoped to the merchants this user manages.
        for endpoint in queryset:
            rotated = services.endpoint_secret_rotate(
                merchant_id=endpoint.merchant_id, endpoint_id=endpoint.pk, actor=request.user
            )
            messages.success(
                request,
                gettext(
                    "New signing secret of %(url)s: %(secret)s  Copy it now: it will not be "
                    "shown again. Until %(until)s deliveries are signed with the old secret "
                    "too, so your receiver can switch without missing one."
                )
                % {
                    "url": rotated.url,
                    "secret": rotated.secret,
                    "until": date_format(
                        timezone.localtime(rotated.previous_secret_expires_at),
                        "DATETIME_FORMAT",
                    )
                    + f" ({timezone.get_current_timezone_name()})",
                },
            )

    @admin.display(description=_("events"))
    def event_list(self, obj):
        return ", ".join(obj.events)

    def save_model(self, request, obj, form, change):
        data = {
            "url": form.cleaned_data["url"],
            "events": list(form.cleaned_data["events"]),
            "description": form.cleaned_data.get("description", ""),
            "is_active": form.cleaned_data.get("is_active", False),
        }
        if not change:
            self._check_scope(request, obj)
            endpoint = services.endpoint_create(merchant_id=obj.merchant_id, **data)
            obj.pk = endpoint.pk
            obj.__dict__.update({k: v for k, v in endpoint.__dict__.items() if k != "_state"})
            messages.success(
                request,
                gettext(
                    "Signing secret of this endpoint: %(secret)s  Copy it now: it will not be "
                    "shown again."
                )
                % {"secret": endpoint.secret},
            )
        else:
            services.endpoint_update(merchant_id=obj.merchant_id, endpoint_id=obj.pk, **data)

    def _check_scope(self, request, obj):
        # As MerchantScopedAdmin.save_model, whose save this replaces with the service's.
        if not is_platform_admin(request) and obj.merchant_id not in managed_ids(request):
            raise PermissionDenied

    def delete_model(self, request, obj):
        services.endpoint_delete(merchant_id=obj.merchant_id, endpoint_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("at", "succeeded", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        # Shown on a delivery page the user may already see (the delivery admin scopes it).
        if is_platform_admin(request):
            return True
        ids = managed_ids(request)
        return bool(ids) and (obj is None or obj.merchant_id in ids)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(MerchantScopedAdmin):
    manager_can_add = False
    manager_can_change = False
    manager_can_delete = False
    list_display = (
        "id",
        "kind",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "kind", "endpoint")
    list_select_related = ("endpoint",)
    fields = (
        "endpoint",
        "kind",
        "idempotency_key",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
        "delivered_at",
        "payload_json",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("idempotency key"))
    def idempotency_key(self, obj):
        return obj.idempotency_key

    @admin.display(description=_("payload"))
    def payload_json(self, obj):
        if not obj.payload:
            return "-"
        text = json.dumps(json.loads(obj.payload), ensure_ascii=False, indent=2)
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)

    @admin.action(description=_("Redeliver the selected deliveries"))
    def redeliver(self, request, queryset):
        count = 0
        for delivery in queryset:  # already scoped to the merchants this user manages
            services.redeliver(merchant_id=delivery.merchant_id, delivery_id=delivery.pk)
            count += 1
        messages.success(
            request,
            gettext("Deliveries queued again: %(count)d.") % {"count": count},
        )
