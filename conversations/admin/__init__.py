"""Back office for visitors, conversations, messages and canned responses.

Visitor names, page titles and message bodies are untrusted text. Everything here goes through
Django's escaping: list columns and read-only fields escape plain strings, and the transcript is
built with format_html, which escapes every argument.

The admins are in modules by what they show (visitors; conversations with their messages and
routing events; canned; labels with attribute definitions; common: members' display names).
Importing this package imports them all, which registers every admin (Django's autodiscover
imports conversations.admin)."""

from .canned import CannedResponseAdmin
from .common import member_name, name_column
from .conversations import (
    TRANSCRIPT_LIMIT,
    ConversationAdmin,
    ConversationForm,
    MessageAdmin,
    RoutingEventAdmin,
    RoutingEventInline,
    routing_actor_is_member,
)
from .labels import AttributeDefinitionAdmin, AttributeDefinitionForm, LabelAdmin, LabelForm
from .visitors import AttributeFilter, BlockedFilter, CustomerNoteInline, VisitorAdmin

__all__ = [
    "AttributeDefinitionAdmin",
    "AttributeDefinitionForm",
    "AttributeFilter",
    "BlockedFilter",
    "CannedResponseAdmin",
    "ConversationAdmin",
    "ConversationForm",
    "CustomerNoteInline",
    "LabelAdmin",
    "LabelForm",
    "member_name",
    "MessageAdmin",
    "name_column",
    "routing_actor_is_member",
    "RoutingEventAdmin",
    "RoutingEventInline",
    "TRANSCRIPT_LIMIT",
    "VisitorAdmin",
]
