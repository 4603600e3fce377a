"""Visitors in the back office: the blocked and custom-attribute filters, the customer's notes,
blocking, and the data-protection actions (export, anonymise, erase)."""

from django.contrib import admin, messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from merchants.admin_scoping import MerchantScopedAdmin, is_platform_admin, managed_ids

from .. import services
from ..models import AttributeDefinition, CustomerNote, Visitor
from ..services import privacy


class BlockedFilter(admin.SimpleListFilter):
    title = _("blocked")
    parameter_name = "blocked"

    def lookups(self, request, model_admin):
        return (("yes", _("Blocked")), ("no", _("Not blocked")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(blocked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(blocked_at__isnull=True)
        return queryset


class AttributeFilter(admin.SimpleListFilter):
    """Filter visitors by a custom attribute's value: every value of the choice attributes,
    and "has a value" for the others. The choices are the definitions of the merchants the
    user manages only (never another merchant's attribute names)."""

    title = _("custom attribute")
    parameter_name = "attribute"

    def lookups(self, request, model_admin):
        definitions = AttributeDefinition.objects.order_by("name", "id")
        if not is_platform_admin(request):
            definitions = definitions.filter(merchant_id__in=managed_ids(request))
        options = []
        for d in definitions:
            if d.kind == AttributeDefinition.Kind.CHOICE:
                options += [(f"{d.pk}:{c}", f"{d.name} = {c}") for c in d.choices]
            else:
                options.append((f"{d.pk}:", gettext("%s: has a value") % d.name))
        return options

    def queryset(self, request, queryset):
        if not self.value() or ":" not in self.value():
            return queryset
        pk, _sep, value = self.value().partition(":")
        definition = AttributeDefinition.objects.filter(pk=pk if pk.isdigit() else 0).first()
        if definition is None or not (
            is_platform_admin(request) or definition.merchant_id in managed_ids(request)
        ):
            return queryset.none()
        queryset = queryset.filter(merchant_id=definition.merchant_id)
        if value:
            return queryset.filter(**{f"attributes__{definition.key}": value})
        return queryset.filter(attributes__has_key=definition.key)


class CustomerNoteInline(admin.TabularInline):
    """Notes agents wrote about the customer (in the workspace), read-only here."""

    model = CustomerNote
    fields = ("created_at", "author_name", "body")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-id",)

    def has_view_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        ids = managed_ids(request)
        return bool(ids) and (obj is None or obj.merchant_id in ids)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Visitor)
class VisitorAdmin(MerchantScopedAdmin):
    list_display = ("visitor_name", "email", "phone", "page_title", "last_seen_at", "blocked")
    list_display_links = ("visitor_name",)
    list_filter = (BlockedFilter, AttributeFilter)
    inlines = [CustomerNoteInline]
    actions = ("block_visitors", "unblock_visitors", "export_data", "anonymise", "erase")
    search_fields = ("name", "email", "phone", "external_id", "anonymous_id")
    ordering = ("-last_seen_at", "-id")
    fields = (
        "merchant",
        "name",
        "email",
        "phone",
        "external_id",
        "attributes",
        "anonymous_id",
        "first_seen_at",
        "last_seen_at",
        "ip",
        "user_agent",
        "page_url",
        "page_title",
        "referrer",
        "language",
        "blocked_at",
        "blocked_by",
        "block_reason",
    )
    # What the widget reports, and the identity only a signed bootstrap may set.
    readonly_fields = (
        "anonymous_id",
        "external_id",
        "first_seen_at",
        "last_seen_at",
        "ip",
        "user_agent",
        "page_url",
        "page_title",
        "referrer",
        "language",
        # Blocking goes through the services (the actions below, or the workspace).
        "blocked_at",
        "blocked_by",
        "block_reason",
    )

    def has_add_permission(self, request, *args):
        return False  # visitors come from the widget, which gives them their anonymous id

    @admin.display(description=_("blocked"), boolean=True, ordering="blocked_at")
    def blocked(self, obj):
        return obj.blocked_at is not None

    @admin.action(description=_("Block the selected visitors"))
    def block_visitors(self, request, queryset):
        for visitor in queryset:  # scoped by get_queryset to the merchants the user manages
            services.visitor_block(
                merchant_id=visitor.merchant_id,
                visitor_id=visitor.pk,
                actor_user_id=request.user.pk,
                reason=gettext("Blocked in the back office"),
            )

    @admin.action(description=_("Unblock the selected visitors"))
    def unblock_visitors(self, request, queryset):
        for visitor in queryset:
            services.visitor_unblock(merchant_id=visitor.merchant_id, visitor_id=visitor.pk)

    @admin.display(description=_("visitor"), ordering="name")
    def visitor_name(self, obj):
        return obj.display_name

    @admin.action(description=_("Export the visitor's data (one visitor)"))
    def export_data(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Choose exactly one visitor to export."), messages.WARNING
            )
            return None
        visitor = queryset.get()
        name, data = privacy.visitor_export(
            merchant_id=visitor.merchant_id, visitor_id=visitor.pk, actor=request.user
        )
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @admin.action(description=_("Anonymise: remove texts and contact details, keep the figures"))
    def anonymise(self, request, queryset):
        return self._erase(request, queryset, "anonymise")

    @admin.action(description=_("Delete the visitors with all their conversations"))
    def erase(self, request, queryset):
        return self._erase(request, queryset, "delete")

    def _erase(self, request, queryset, mode: str):
        """Asks first (like Django's delete action), then erases each visitor."""
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/conversations/visitor/erase_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": gettext("Are you sure?"),
                    "visitors": queryset,
                    "mode": mode,
                    "action": request.POST.get("action"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        erased = 0
        for visitor in queryset:
            privacy.visitor_erase(
                merchant_id=visitor.merchant_id,
                visitor_id=visitor.pk,
                actor=request.user,
                mode=mode,
            )
            erased += 1
        self.message_user(
            request, gettext("Visitors erased: %(n)s.") % {"n": erased}, messages.SUCCESS
        )
        return None
