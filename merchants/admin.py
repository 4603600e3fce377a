from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy as _

from kefu.admin_scoping import (
    MerchantScopedAdmin, ScopedPermissionsMixin, is_platform_admin, managed_ids,
)

from .models import ApiToken, Membership, Merchant


def embed_snippet_text(merchant: Merchant) -> str:
    base = settings.PUBLIC_URL.rstrip("/")
    return (
        f'<script src="{base}/widget/loader.js" data-merchant="{merchant.widget_key}" async>'
        "</script>"
    )


@admin.register(Merchant)
class MerchantAdmin(ScopedPermissionsMixin, admin.ModelAdmin):
    # Merchants are created and removed by the platform operator; a manager edits their own.
    manager_can_add = False
    manager_can_delete = False

    list_display = ("name", "widget_key", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "widget_key")
    fields = (
        "name", "is_active", "widget_key", "embed_snippet", "allowed_origins", "welcome_message",
        "timezone", "identity_secret", "created_at",
    )
    readonly_fields = ("widget_key", "embed_snippet", "identity_secret", "created_at")

    def merchant_id_of(self, obj) -> int:
        return obj.pk

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if is_platform_admin(request):
            return qs
        return qs.filter(pk__in=managed_ids(request))

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not is_platform_admin(request):
            # Switching a merchant off is the operator's call, like deleting it.
            readonly.append("is_active")
        return readonly

    @admin.display(description=_("embed snippet"))
    def embed_snippet(self, obj):
        # Shown as text to copy (escaped by format_html), never as a live tag.
        return format_html("<code>{}</code>", embed_snippet_text(obj))


@admin.register(Membership)
class MembershipAdmin(MerchantScopedAdmin):
    list_display = ("display_name", "user", "role", "is_active", "max_concurrent", "created_at")
    list_filter = ("role", "is_active")
    list_select_related = ("user", "merchant")
    search_fields = ("display_name", "user__username", "user__email")
    fields = ("merchant", "user", "role", "display_name", "max_concurrent", "is_active")
    # `user` choices (kefu.admin_scoping.rows_of) are the members of the manager's merchants:
    # an existing colleague can join another merchant they manage. New people are created on the
    # user admin page, which adds their first membership. A manager can never pick an outsider
    # (or a superuser without memberships) and so gain the right to edit that account.

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "user"] if obj is not None else readonly


@admin.register(ApiToken)
class ApiTokenAdmin(MerchantScopedAdmin):
    list_display = ("name", "prefix", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    # The digest is never shown: it is not a field of the form and not in any list.
    fields = ("merchant", "name", "is_active", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        raw = None
        if not change:
            raw = ApiToken.generate()
            obj.set_key(raw)
        super().save_model(request, obj, form, change)
        if raw is not None:
            messages.success(
                request,
                gettext(
                    "API key for “%(name)s”: %(key)s  Copy it now: only its hash is stored, "
                    "it will not be shown again."
                ) % {"name": obj.name, "key": raw},
            )
