"""Back office for visitors, conversations, messages and canned responses.

Visitor names, page titles and message bodies are untrusted text. Everything here goes through
Django's escaping: list columns and read-only fields escape plain strings, and the transcript is
built with format_html, which escapes every argument.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from kefu.admin_scoping import MerchantScopedAdmin, is_platform_admin

from .models import CannedResponse, Conversation, Message, Visitor

TRANSCRIPT_LIMIT = 500


@admin.register(Visitor)
class VisitorAdmin(MerchantScopedAdmin):
    list_display = ("visitor_name", "email", "phone", "page_title", "last_seen_at")
    list_display_links = ("visitor_name",)
    search_fields = ("name", "email", "phone", "external_id", "anonymous_id")
    ordering = ("-last_seen_at", "-id")
    fields = (
        "merchant", "name", "email", "phone", "external_id", "attributes", "anonymous_id",
        "first_seen_at", "last_seen_at", "ip", "user_agent", "page_url", "page_title",
    )
    # What the widget reports, and the identity only a signed bootstrap may set.
    readonly_fields = (
        "anonymous_id", "external_id", "first_seen_at", "last_seen_at", "ip", "user_agent",
        "page_url", "page_title",
    )

    def has_add_permission(self, request, *args):
        return False  # visitors come from the widget, which gives them their anonymous id

    @admin.display(description=_("visitor"), ordering="name")
    def visitor_name(self, obj):
        return obj.display_name


@admin.register(Conversation)
class ConversationAdmin(MerchantScopedAdmin):
    list_display = (
        "id", "visitor", "status", "assignee", "preview", "last_message_at", "unread_agent_count",
    )
    list_filter = ("status",)
    list_select_related = ("visitor", "assignee", "merchant")
    search_fields = ("visitor__name", "visitor__email", "last_message_preview")
    ordering = ("-last_message_at", "-id")
    same_merchant_fields = ("visitor",)
    member_fields = ("assignee",)
    # A merchant may have many visitors: search instead of one <option> each. The search runs
    # through VisitorAdmin.get_queryset, so it is scoped like everything else.
    autocomplete_fields = ("visitor",)
    # Status and assignee edited here change the row only; open workspaces see the change on
    # their next reload (no realtime event is sent from the back office).
    fields = (
        "merchant", "visitor", "status", "assignee", "created_at", "first_response_at",
        "resolved_at", "last_message_at", "last_message_preview", "unread_agent_count",
        "unread_visitor_count", "transcript",
    )
    # Counters and the last-message copy are maintained by conversations.services.
    readonly_fields = (
        "created_at", "first_response_at", "resolved_at", "last_message_at",
        "last_message_preview", "unread_agent_count", "unread_visitor_count", "transcript",
    )

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        # The visitor is chosen when the conversation is created and then stays.
        return [*readonly, "visitor"] if obj is not None else readonly

    @admin.display(description=_("last message"))
    def preview(self, obj):
        return Truncator(obj.last_message_preview).chars(60)

    @admin.display(description=_("messages"))
    def transcript(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        rows = list(
            Message.objects.filter(merchant_id=obj.merchant_id, conversation=obj)
            .order_by("-seq")[:TRANSCRIPT_LIMIT]
        )
        rows.reverse()
        if not rows:
            return "-"
        body = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td style="white-space: pre-wrap">{}</td></tr>',
            (
                (
                    m.seq,
                    m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    m.get_sender_kind_display(),
                    m.sender_name + (f" ({_('private note')})" if m.is_private else ""),
                    m.body,
                )
                for m in rows
            ),
        )
        all_url = reverse("admin:conversations_message_changelist") + f"?conversation__id__exact={obj.pk}"
        return format_html(
            '<table class="kefu-transcript"><tbody>{}</tbody></table>'
            '<p><a href="{}">{}</a></p>',
            body, all_url, _("All messages of this conversation"),
        )


@admin.register(Message)
class MessageAdmin(MerchantScopedAdmin):
    """Read-only: messages are written only by conversations.services, which keep `seq` gapless
    and the conversation's counters right."""

    list_display = (
        "conversation", "seq", "sender_kind", "sender_name", "body_preview", "is_private",
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


@admin.register(CannedResponse)
class CannedResponseAdmin(MerchantScopedAdmin):
    list_display = ("shortcut", "text_preview", "created_at")
    search_fields = ("shortcut", "text")
    fields = ("merchant", "shortcut", "text")

    @admin.display(description=_("text"))
    def text_preview(self, obj):
        return Truncator(obj.text).chars(80)
