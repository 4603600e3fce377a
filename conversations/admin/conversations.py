"""Back office for visitors, conversations, messages and canned responses.

Visitor names, page titles and message bodies are untrusted text. Everything here goes through
Django's escaping: list columns and read-only fields escape plain strings, and the transcript is
built with format_html, which escapes every argument.
"""

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
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
from merchants.models import Membership

from .. import services
from ..models import (
    AttributeDefinition,
    CannedResponse,
    Conversation,
    CustomerNote,
    Label,
    Message,
    RoutingEvent,
    Visitor,
)
from ..services import privacy

TRANSCRIPT_LIMIT = 500


def _transcript_text(message: Message) -> str:
    """The body, with the image or file a message carries named (as text) above it."""
    try:
        attachment = message.attachment
    except ObjectDoesNotExist:
        return message.body
    label = gettext("[Image] %(name)s" if attachment.kind == "image" else "[File] %(name)s")
    return "\n".join(filter(None, [label % {"name": attachment.name}, message.body]))


def member_name(user_field: str) -> Subquery:
    """The display name the merchant gave the user in `user_field` (agents know each other by
    it; the login name means nothing to them), as one subquery instead of a query per row."""
    return Subquery(
        Membership.objects.filter(
            merchant_id=OuterRef("merchant_id"), user_id=OuterRef(user_field)
        ).values("display_name")[:1]
    )


def name_column(user_field: str, label):
    @admin.display(description=label, ordering=f"{user_field}_name")
    def column(self, obj):
        return getattr(obj, f"{user_field}_name", None) or getattr(obj, user_field) or "—"

    return column


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


class RoutingEventInline(admin.TabularInline):
    """The conversation's routing timeline, read-only: events are written by the router
    (conversations.routing) and the manual actions (services.assignment) only."""

    model = RoutingEvent
    fields = ("created_at", "kind", "reason", "from_user", "to_user", "team", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("id",)
    verbose_name_plural = _("routing timeline")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_user", "to_user", "team", "actor")

    def has_view_permission(self, request, obj=None):
        # Shown on a conversation page the user may already see (ConversationAdmin scopes it);
        # the rows are that conversation's. Django also asks without `obj` (get_queryset).
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


class ConversationForm(TenantRowForm):
    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        # On an existing conversation these go through services.assignment, which knows
        # resolving and reopening, and handing over to an agent or a team.
        if "status" in self.changed_data and cleaned.get("status") not in (
            Conversation.Status.OPEN,
            Conversation.Status.RESOLVED,
        ):
            self.add_error("status", gettext("Set it to open or resolved here."))
        if "assignee" in self.changed_data and cleaned.get("assignee") is None:
            self.add_error(
                "assignee",
                gettext(
                    "To unassign, transfer the conversation to a team (the team's routing picks the "
                    "next agent, or it waits in the queue)."
                ),
            )
        if "team" in self.changed_data and cleaned.get("team") is None:
            self.add_error("team", gettext("Transfer it to another team instead."))
        return cleaned


@admin.register(Conversation)
class ConversationAdmin(MerchantScopedAdmin):
    form = ConversationForm
    list_display = (
        "id",
        "visitor",
        "status",
        "assignee_column",
        "team",
        "source",
        "preview",
        "last_message_at",
        "unread_agent_count",
        "label_names",
    )
    list_filter = ("status", "source", "team", "labels")
    list_select_related = ("visitor", "assignee", "merchant", "team")
    search_fields = ("visitor__name", "visitor__email", "last_message_preview")
    ordering = ("-last_message_at", "-id")
    same_merchant_fields = ("visitor", "team")
    member_fields = ("assignee",)
    # A merchant may have many visitors: search instead of one <option> each. The search runs
    # through VisitorAdmin.get_queryset, so it is scoped like everything else.
    autocomplete_fields = ("visitor",)
    assignee_column = name_column("assignee", _("assignee"))
    # On an existing conversation, status, assignee and team changes go through
    # services.assignment (see save_model): they are recorded as routing events and reach
    # open workspaces and the visitor like the same action taken in the workspace.
    fields = (
        "merchant",
        "visitor",
        "status",
        "assignee",
        "team",
        "source",
        "priority",
        "queued_at",
        "assigned_at",
        "bot_active",
        "intent",
        "label_names",
        "created_at",
        "first_response_at",
        "resolved_at",
        "last_message_at",
        "last_message_preview",
        "unread_agent_count",
        "unread_visitor_count",
        "transcript",
    )
    # Counters and the last-message copy are maintained by conversations.services.
    readonly_fields = (
        "source",
        "priority",
        "queued_at",
        "assigned_at",
        "bot_active",
        "intent",
        "label_names",
        "created_at",
        "first_response_at",
        "resolved_at",
        "last_message_at",
        "last_message_preview",
        "unread_agent_count",
        "unread_visitor_count",
        "transcript",
    )
    inlines = [RoutingEventInline]

    def get_queryset(self, request):
        # Labels: one query for the page (the column), applied in the workspace or the API.
        return (
            super()
            .get_queryset(request)
            .annotate(assignee_name=member_name("assignee"))
            .prefetch_related("labels")
        )

    @admin.display(description=_("labels"))
    def label_names(self, obj):
        return ", ".join(label.name for label in obj.labels.all()) or "—"

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        # The visitor is chosen when the conversation is created and then stays.
        return [*readonly, "visitor"] if obj is not None else readonly

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        if not is_platform_admin(request) and obj.merchant_id not in managed_ids(request):
            raise PermissionDenied  # see MerchantScopedAdmin.save_model
        # No obj.save(): every editable field of an existing conversation is a routing action.
        actor = request.user.pk
        ids = {"merchant_id": obj.merchant_id, "conversation_id": obj.pk}
        try:
            if "team" in form.changed_data:
                services.conversation_transfer(**ids, actor_user_id=actor, to_team_id=obj.team_id)
            if "assignee" in form.changed_data:
                services.conversation_transfer(
                    **ids, actor_user_id=actor, to_user_id=obj.assignee_id
                )
            if "status" in form.changed_data:
                services.conversation_set_status(
                    **ids,
                    status=obj.status,
                    # A platform operator without a membership acts as "nobody".
                    actor_user_id=actor
                    if routing_actor_is_member(obj.merchant_id, actor)
                    else None,
                )
        except KefuError as exc:
            request._kefu_routing_error = True
            self.message_user(request, exc.message, messages.ERROR)

    def response_change(self, request, obj):
        if getattr(request, "_kefu_routing_error", False):
            # Back to the page with the error, without "changed successfully".
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.display(description=_("last message"))
    def preview(self, obj):
        return Truncator(obj.last_message_preview).chars(60)

    @admin.display(description=_("messages"))
    def transcript(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        rows = list(
            Message.objects.filter(merchant_id=obj.merchant_id, conversation=obj)
            .select_related("attachment")
            .order_by("-seq")[:TRANSCRIPT_LIMIT]
        )
        rows.reverse()
        if not rows:
            return "-"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            '<td style="white-space: pre-wrap">{}</td></tr>',
            (
                (
                    m.seq,
                    m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    m.get_sender_kind_display(),
                    m.sender_name + (f" ({_('private note')})" if m.is_private else ""),
                    _transcript_text(m),
                )
                for m in rows
            ),
        )
        all_url = (
            reverse("admin:conversations_message_changelist") + f"?conversation__id__exact={obj.pk}"
        )
        return format_html(
            '<table class="kefu-transcript"><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            body,
            all_url,
            _("All messages of this conversation"),
        )


@admin.register(Message)
class MessageAdmin(MerchantScopedAdmin):
    """Read-only: messages are written only by conversations.services, which keep `seq` gapless
    and the conversation's counters right."""

    list_display = (
        "conversation",
        "seq",
        "sender_kind",
        "sender_name",
        "body_preview",
        "is_private",
        "created_at",
    )
    list_filter = ("sender_kind", "kind", "is_private")
    list_select_related = ("conversation", "merchant")
    search_fields = ("body", "sender_name")
    ordering = ("-id",)

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting leaves a gap in the sequence clients resume from: the operator only.
        return is_platform_admin(request)

    @admin.display(description=_("body"))
    def body_preview(self, obj):
        return Truncator(obj.body).chars(80)


def routing_actor_is_member(merchant_id: int, user_id: int) -> bool:
    return Membership.objects.filter(
        merchant_id=merchant_id, user_id=user_id, is_active=True
    ).exists()


@admin.register(RoutingEvent)
class RoutingEventAdmin(MerchantScopedAdmin):
    """Every routing decision with its reason, read-only (written by conversations.routing and
    services.assignment)."""

    list_display = (
        "created_at",
        "conversation",
        "kind",
        "reason",
        "from_user_column",
        "to_user_column",
        "actor_column",
    )
    from_user_column = name_column("from_user", _("from"))
    to_user_column = name_column("to_user", _("to"))
    actor_column = name_column("actor", _("by"))

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                from_user_name=member_name("from_user"),
                to_user_name=member_name("to_user"),
                actor_name=member_name("actor"),
            )
        )

    list_filter = ("kind", "rule")
    list_select_related = ("conversation", "from_user", "to_user", "actor", "merchant")
    search_fields = ("reason",)
    ordering = ("-id",)

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CannedResponse)
class CannedResponseAdmin(MerchantScopedAdmin):
    list_display = (
        "shortcut",
        "title",
        "text_preview",
        "owner_column",
        "usage_count",
        "created_at",
    )
    search_fields = ("shortcut", "title", "text")
    fields = ("merchant", "owner", "shortcut", "title", "text", "usage_count")
    readonly_fields = ("usage_count",)
    member_fields = ("owner",)
    owner_column = name_column("owner", _("owner"))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(owner_name=member_name("owner"))

    def save_model(self, request, obj, form, change):
        # The picker's pinyin key, as conversations.services.canned keeps it.
        obj.search_key = services.canned_search_key(shortcut=obj.shortcut, title=obj.title)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("text"))
    def text_preview(self, obj):
        return Truncator(obj.text).chars(80)


# --- Labels and custom attributes (issue 13) -----------------------------------------------------


class LabelForm(TenantRowForm):
    def clean_colour(self):
        colour = self.cleaned_data["colour"]
        if not services.customers.COLOUR.match(colour or ""):
            raise ValidationError(gettext("A colour is #rrggbb, e.g. #2563eb."))
        return colour.lower()


@admin.register(Label)
class LabelAdmin(MerchantScopedAdmin):
    form = LabelForm
    list_display = ("name", "colour_swatch", "description", "conversation_count")
    search_fields = ("name", "description")
    fields = ("merchant", "name", "colour", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n=Count("conversations"))

    @admin.display(description=_("colour"), ordering="colour")
    def colour_swatch(self, obj):
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;border-radius:3px;'
            'vertical-align:middle;background:{}"></span> {}',
            obj.colour,
            obj.colour,
        )

    @admin.display(description=_("conversations"), ordering="n")
    def conversation_count(self, obj):
        return obj.n

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Open workspaces pick up the new name or colour at once.
        services.customers.labels_announce(obj.merchant_id)

    def delete_model(self, request, obj):
        merchant_id = obj.merchant_id
        super().delete_model(request, obj)
        services.customers.labels_announce(merchant_id)


class AttributeDefinitionForm(TenantRowForm):
    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["choices"] = services.customers.attribute_choices_clean(
                cleaned.get("kind"), cleaned.get("choices")
            )
        except KefuError as exc:
            self.add_error("choices", exc.message)
        return cleaned


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(MerchantScopedAdmin):
    form = AttributeDefinitionForm
    list_display = ("name", "key", "kind", "choices")
    list_filter = ("kind",)
    search_fields = ("name", "key")
    fields = ("merchant", "key", "name", "kind", "choices")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # Values are stored under the key: renaming it would orphan them.
        return [*readonly, "key"] if obj is not None else readonly
