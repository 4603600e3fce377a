"""Writes for visitors, conversations and messages: views, consumers, tasks and the admin call
these; nothing else writes these tables. One module per reason to change:

- store: conversation_lock and message_append, the two steps every conversation write takes;
- messages: visitor, agent, bot and leave-a-message sends, read state;
- assignment: the manual routing actions (claim, transfer, resolve, reopen);
- visitors: the widget's visitor and their page trail;
- canned: quick replies (merchant-wide and personal) and their use counts;
- inbox: snooze and priority (inbox triage).
- attachments: uploads, the message that carries one, deleting them with their files.
- outbound: conversations the API starts (an agent or the integration writes first);
- contacts: contacts the API creates, a visitor's contact details and custom attributes.
- customers: labels, custom attributes, notes about a customer, blocking.
- rating: the visitor's satisfaction rating of a resolved conversation;
- prechat: the merchant's pre-chat form and the visitor's answers.

The router itself (automatic assignment, the queue, timeouts) is conversations.routing.
"""

from .assignment import (
    agent_connected,
    conversation_claim,
    conversation_claim_locked,
    conversation_join,
    conversation_set_status,
    conversation_transfer,
)
from .attachments import (
    attachment_upload,
    attachments_delete,
    attachments_purge_unsent,
)
from .canned import (
    CannedActor,
    canned_response_create,
    canned_response_delete,
    canned_response_update,
    canned_response_used,
    canned_search_key,
)
from .contacts import visitor_create, visitor_update
from .customers import (
    attribute_definition_create,
    attribute_definition_delete,
    conversation_labels_change,
    customer_note_create,
    customer_note_delete,
    label_create,
    label_delete,
    label_update,
    labels_resolve,
    visitor_attributes_set,
    visitor_block,
    visitor_unblock,
)
from .inbox import (
    PRIORITIES,
    conversation_set_priority,
    conversation_snooze,
    conversation_unsnooze,
    snooze_wake_due,
)
from .messages import (
    OFFLINE_MESSAGES_PER_HOUR,
    R_OFFLINE,
    R_OFFLINE_CLOSED,
    R_OFFLINE_NOBODY,
    bot_name,
    clean_body,
    conversation_mark_read_by_agent,
    conversation_mark_read_by_visitor,
    message_send_by_agent,
    message_send_by_bot,
    message_send_by_visitor,
    message_send_by_visitor_batch,
    offline_message_create,
)
from .outbound import conversation_start_outbound, visitor_invite
from .prechat import prechat_fields, prechat_needed, visitor_prechat_submit
from .rating import conversation_rate, conversation_rate_current, rating_values
from .store import NEGATIVE_PRIORITY, PREVIEW_LENGTH, Sender, conversation_lock, message_append
from .visitors import PAGE_TRAIL_LIMIT, visitor_identify, visitor_page_view, visitor_touch

__all__ = [
    "conversation_start_outbound",
    "visitor_invite",
    "visitor_update",
    "visitor_create",
    "CannedActor",
    "canned_response_create",
    "canned_response_delete",
    "canned_response_update",
    "canned_response_used",
    "canned_search_key",
    "NEGATIVE_PRIORITY",
    "OFFLINE_MESSAGES_PER_HOUR",
    "PAGE_TRAIL_LIMIT",
    "PREVIEW_LENGTH",
    "R_OFFLINE",
    "R_OFFLINE_CLOSED",
    "R_OFFLINE_NOBODY",
    "Sender",
    "agent_connected",
    "attachment_upload",
    "attachments_delete",
    "attachments_purge_unsent",
    "bot_name",
    "clean_body",
    "conversation_claim",
    "conversation_claim_locked",
    "conversation_join",
    "conversation_lock",
    "conversation_mark_read_by_agent",
    "conversation_mark_read_by_visitor",
    "conversation_rate",
    "conversation_rate_current",
    "conversation_set_status",
    "conversation_transfer",
    "message_append",
    "message_send_by_agent",
    "message_send_by_bot",
    "message_send_by_visitor",
    "message_send_by_visitor_batch",
    "offline_message_create",
    "PRIORITIES",
    "conversation_set_priority",
    "conversation_snooze",
    "conversation_unsnooze",
    "snooze_wake_due",
    "prechat_fields",
    "prechat_needed",
    "visitor_prechat_submit",
    "rating_values",
    "visitor_page_view",
    "visitor_touch",
    "attribute_definition_create",
    "attribute_definition_delete",
    "conversation_labels_change",
    "customer_note_create",
    "customer_note_delete",
    "label_create",
    "label_delete",
    "label_update",
    "labels_resolve",
    "visitor_attributes_set",
    "visitor_block",
    "visitor_identify",
    "visitor_unblock",
]
