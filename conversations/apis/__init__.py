"""REST API under /api/v1/ for integrators (Bearer API token) and the agent workspace (session
plus the `X-Kefu-Merchant` header). The default DRF classes in settings authenticate and decide
the merchant (merchants.permissions.request_merchant_id); views read through selectors, write
through services and render with the socket's shapes (conversations.serializers).

The views are in modules by resource (conversations, attachments, visitors, labels, canned,
routing, transcripts); this package names them all for kefu/api_urls.py."""

from .attachments import AttachmentUpload
from .canned import CannedResponseDetail, CannedResponseList, CannedResponseUse
from .conversations import (
    CONVERSATION_SORTS,
    ConversationDetail,
    ConversationList,
    ConversationPagination,
    ConversationPriorityPagination,
    ConversationWaitingPagination,
    InboxCounts,
    MessageListCreate,
    MessagePagination,
    MessageSearch,
)
from .labels import (
    AttributeDefinitionDetail,
    AttributeDefinitionList,
    ConversationLabels,
    LabelDetail,
    LabelList,
)
from .routing import (
    ACTION_ERRORS,
    ConversationAction,
    ConversationClaim,
    ConversationPriority,
    ConversationSnooze,
    ConversationStatus,
    ConversationTransfer,
    ConversationUnsnooze,
    QueueView,
    RoutingEventList,
    RoutingEventPagination,
    TeamList,
)
from .transcripts import TRANSCRIPT_COLUMNS, ConversationTranscript, TranscriptQuerySerializer
from .visitors import (
    BLOCK_RESPONSES,
    VisitorAttributes,
    VisitorBlock,
    VisitorBlockByIdentity,
    VisitorDetail,
    VisitorErase,
    VisitorEraseSerializer,
    VisitorExport,
    VisitorList,
    VisitorNoteDetail,
    VisitorNotes,
    VisitorPagination,
    VisitorProfile,
)

__all__ = [
    "ACTION_ERRORS",
    "AttachmentUpload",
    "AttributeDefinitionDetail",
    "AttributeDefinitionList",
    "BLOCK_RESPONSES",
    "CannedResponseDetail",
    "CannedResponseList",
    "CannedResponseUse",
    "CONVERSATION_SORTS",
    "ConversationAction",
    "ConversationClaim",
    "ConversationDetail",
    "ConversationLabels",
    "ConversationList",
    "ConversationPagination",
    "ConversationPriority",
    "ConversationPriorityPagination",
    "ConversationSnooze",
    "ConversationStatus",
    "ConversationTranscript",
    "ConversationTransfer",
    "ConversationUnsnooze",
    "ConversationWaitingPagination",
    "InboxCounts",
    "LabelDetail",
    "LabelList",
    "MessageListCreate",
    "MessagePagination",
    "MessageSearch",
    "QueueView",
    "RoutingEventList",
    "RoutingEventPagination",
    "TeamList",
    "TRANSCRIPT_COLUMNS",
    "TranscriptQuerySerializer",
    "VisitorAttributes",
    "VisitorBlock",
    "VisitorBlockByIdentity",
    "VisitorDetail",
    "VisitorErase",
    "VisitorEraseSerializer",
    "VisitorExport",
    "VisitorList",
    "VisitorNoteDetail",
    "VisitorNotes",
    "VisitorPagination",
    "VisitorProfile",
]
