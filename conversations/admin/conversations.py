"""Conversations in the back office: the list, the transcript, changes that go through the
assignment services, and the read-only messages and routing events."""

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import HttpResponseRedirect
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
from ..models import Conversation, Message, RoutingEvent
from .common import member_name, name_column

TRANSCRIPT_LIMIT = 500


def _transcript_text(message: Message) -> str:
    """The body, with the image or file a message carries named (as text) above it."""
    try:
        attachment = message.attachment
    except ObjectDoesNotExist:
        return message.body
    label = gettext("[Image] %(name)s" if attachment.kind == "image" else "[File] %(name)s")
    return "\n".join(filter(None, [label % {"name": attachment.name}, message.body]))


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
