"""Back office for visitors, conversations, messages and canned responses.

Visitor names, page titles and message bodies are untrusted text. Everything here goes through
Django's escaping: list columns and read-only fields escape plain strings, and the transcript is
built with format_html, which escapes every argument.

Importing this package registers every admin (Django's autodiscover imports
conversations.admin)."""

from .conversations import (
    TRANSCRIPT_LIMIT,
    AttributeDefinitionAdmin,
    AttributeDefinitionForm,
    AttributeFilter,
    BlockedFilter,
    CannedResponseAdmin,
    ConversationAdmin,
    ConversationForm,
    CustomerNoteInline,
    LabelAdmin,
    LabelForm,
    MessageAdmin,
    RoutingEventAdmin,
    RoutingEventInline,
    VisitorAdmin,
    member_name,
    name_column,
    routing_actor_is_member,
)

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
