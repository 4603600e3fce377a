from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import hours
from . import services as merchant_services
from .admin_scoping import (
    AuditedAdminMixin,
    MerchantScopedAdmin,
    ScopedPermissionsMixin,
    TenantRowForm,
    is_platform_admin,
    managed_ids,
    rows_of,
)
from .models import (
    ApiToken,
    AuditEntry,
    BusinessHours,
    Holiday,
    Membership,
    Merchant,
    Team,
)


def embed_snippet_text(merchant: Merchant) -> str:
    base = settings.PUBLIC_URL.rstrip("/")
    return (
        f'<script src="{base}/widget/loader.js" data-merchant="{merchant.widget_key}" async>'
        "</script>"
    )


@admin.register(Merchant)
class MerchantAdmin(AuditedAdminMixin, ScopedPermissionsMixin, admin.ModelAdmin):
    # Merchants are created and removed by the platform operator; a manager edits their own.
    manager_can_add = False
    manager_can_delete = False

    list_display = ("name", "widget_key", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "widget_key")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "is_active",
                    "widget_key",
                    "embed_snippet",
                    "allowed_origins",
                    "welcome_message",
                    "timezone",
                    "identity_secret",
                    "created_at",
                )
            },
        ),
        (
            _("Routing"),
            {
                "fields": (
                    "routing_method",
                    "sticky_agent",
                    "accept_timeout_seconds",
                    "max_reassignments",
                    "auto_resolve_minutes",
                )
            },
        ),
        (
            _("Business hours and offline messages"),
            {
                "fields": ("business_hours_enabled", "hours_now", "offline_form_enabled"),
                "description": _(
                    "Weekly hours and holidays are edited below, in the merchant's time zone."
                ),
            },
        ),
        (_("Notifications"), {"fields": ("escalation_delay_seconds",)}),
        (_("Inbox"), {"fields": ("wait_warn_seconds", "wait_alert_seconds")}),
        (_("Bot"), {"fields": ("bot_mode", "bot_name")}),
        (
            _("Customer data"),
            {"fields": ("retention_days", "retention_action", "truncate_visitor_ip")},
        ),
        (_("Attachments"), {"fields": ("attachment_max_mb", "attachment_types")}),
        (
            _("Widget"),
            {
                "fields": (
                    "rating_scale",
                    "prechat_name",
                    "prechat_email",
                    "prechat_phone",
                    "prechat_custom",
                )
            },
        ),
    )
    readonly_fields = ("widget_key", "embed_snippet", "identity_secret", "created_at", "hours_now")

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

    @admin.display(description=_("now"))
    def hours_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        if not obj.business_hours_enabled:
            return gettext("Always open (business hours are off).")
        if hours.is_open(obj):
            return gettext("Open now.")
        opening = hours.next_opening(obj)
        if opening is None:
            return gettext("Closed: no opening hours in the coming year.")
        return gettext("Closed; opens %(when)s (%(timezone)s).") % {
            "when": opening.strftime("%Y-%m-%d %H:%M"),
            "timezone": obj.timezone,
        }

    def get_inlines(self, request, obj):
        # The hours belong to an existing merchant (its time zone is set first).
        return [BusinessHoursInline, HolidayInline] if obj is not None else []


class MerchantChildInline(admin.TabularInline):
    """Rows edited on their merchant's page: whoever may change the merchant may edit them."""

    extra = 0

    def _allowed(self, request, obj) -> bool:
        if is_platform_admin(request):
            return True
        # Django also asks without `obj` (get_queryset); the rows are then the merchant's own,
        # on a page MerchantAdmin already scoped.
        ids = managed_ids(request)
        return bool(ids) and (obj is None or obj.pk in ids)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, obj)


class BusinessHoursInline(MerchantChildInline):
    model = BusinessHours
    fields = ("weekday", "opens", "closes")
    verbose_name_plural = _("weekly business hours (several intervals a day allowed)")


class HolidayInline(MerchantChildInline):
    model = Holiday
    fields = ("date", "name", "opens", "closes")
    verbose_name_plural = _("holidays and special days (blank hours: closed all day)")


@admin.register(Team)
class TeamAdmin(MerchantScopedAdmin):
    list_display = ("name", "routing_method", "member_count", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "description")
    fields = ("merchant", "name", "description", "routing_method", "is_active", "member_names")
    readonly_fields = ("member_names",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_members=Count("members", filter=Q(members__is_active=True)))
        )

    @admin.display(description=_("members"), ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description=_("members"))
    def member_names(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        names = obj.members.filter(is_active=True).order_by("display_name")
        # Plain text: Django escapes it. Members join teams on their membership page.
        return ", ".join(m.display_name for m in names) or "-"


class MembershipForm(TenantRowForm):
    def clean(self):
        cleaned = super().clean()
        merchant_id = self.row_merchant_id()
        teams = cleaned.get("teams")
        if (
            merchant_id is not None
            and teams is not None
            and any(team.merchant_id != merchant_id for team in teams)
        ):
            self.add_error("teams", gettext("Choose teams of the same merchant."))
        return cleaned


@admin.register(Membership)
class MembershipAdmin(MerchantScopedAdmin):
    form = MembershipForm
    list_display = ("display_name", "user", "role", "is_active", "max_concurrent", "created_at")
    list_filter = ("role", "is_active", "teams")
    list_select_related = ("user", "merchant")
    search_fields = ("display_name", "user__username", "user__email")
    fields = (
        "merchant",
        "user",
        "role",
        "display_name",
        "max_concurrent",
        "is_active",
        "is_away",
        "teams",
        "phone",
        "notify_by_sms",
        "notify_by_email",
    )
    filter_horizontal = ("teams",)
    # `user` choices (merchants.admin_scoping.rows_of) are the members of the manager's merchants:
    # an existing colleague can join another merchant they manage. New people are created on the
    # user admin page, which adds their first membership. A manager can never pick an outsider
    # (or a superuser without memberships) and so gain the right to edit that account.

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "user"] if obj is not None else readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "teams" and not is_platform_admin(request):
            kwargs["queryset"] = rows_of(Team, managed_ids(request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        teams = form_class.base_fields.get("teams")
        if obj is not None and teams is not None:
            # An existing membership picks among its own merchant's teams only.
            teams.queryset = teams.queryset.filter(merchant_id=obj.merchant_id)
        return form_class

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        if not is_platform_admin(request) and obj.merchant_id not in managed_ids(request):
            raise PermissionDenied  # see MerchantScopedAdmin.save_model
        # Through the service: an edit that frees capacity serves the queue after the commit
        # (the teams, saved next by save_related, are in the same transaction).
        merchant_services.membership_update(
            membership=obj, teams_changed="teams" in form.changed_data
        )

    def delete_model(self, request, obj):
        merchant_services.membership_delete(membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            merchant_services.membership_delete(membership=membership)


@admin.register(ApiToken)
class ApiTokenAdmin(MerchantScopedAdmin):
    list_display = ("name", "prefix", "scope", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active", "scope")
    search_fields = ("name", "prefix")
    # The digest is never shown: it is not a field of the form and not in any list.
    fields = (
        "merchant",
        "name",
        "scope",
        "rate_limit",
        "is_active",
        "prefix",
        "created_at",
        "last_used_at",
    )
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
                )
                % {"name": obj.name, "key": raw},
            )


@admin.register(AuditEntry)
class AuditEntryAdmin(MerchantScopedAdmin):
    """Read-only: an audit log nobody can edit, managers included."""

    manager_can_add = manager_can_change = manager_can_delete = False
    list_display = ("at", "actor_label", "action", "target")
    list_filter = ("action",)
    search_fields = ("actor_label", "target")
    date_hierarchy = None
    fields = ("merchant", "at", "actor_label", "action", "target", "detail")
    readonly_fields = fields

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
