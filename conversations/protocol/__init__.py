"""The WebSocket protocol: every frame and every error code, and nothing else.

Each frame is one pydantic class whose `type` field is its name on the wire. Client frames
forbid unknown fields, so a typo is an `invalid_frame` error instead of being silently ignored.
docs/protocol.md is generated from this package (`python manage.py protocol_doc`) and a test
fails when the two differ.

Frames are JSON text; one frame per WebSocket message. Callers import the package
(`protocol.MessageSendFrame`); its modules split it by what makes each change:

- `codes`: the version, the limits on client frames, the error and close codes;
- `shapes`: what server frames carry (a message, a conversation, ...), following the models;
- `frames`: the frames of both sockets and which are group events;
- `parsing`: a client's JSON to a frame, or the error saying why not.
"""

# ruff: noqa: F401 - these imports are the package's names, re-exported for `protocol.X`

from .codes import (
    CLOSE_CODES,
    MAX_FRAME_BYTES,
    MAX_INT,
    PROTOCOL_VERSION,
    ErrorCode,
)
from .frames import (
    AGENT_CLIENT_FRAMES,
    EVENT_FRAMES,
    SERVER_FRAMES,
    VISITOR_CLIENT_FRAMES,
    AuthFrame,
    AvailabilityChangedFrame,
    ClientMsgId,
    ConversationClaimFrame,
    ConversationJoinFrame,
    ConversationLabelsFrame,
    ConversationPriorityFrame,
    ConversationRateFrame,
    ConversationReadFrame,
    ConversationReadOutFrame,
    ConversationSnoozeFrame,
    ConversationStatusFrame,
    ConversationTransferFrame,
    ConversationUnsnoozeFrame,
    ConversationUpdatedFrame,
    ConversationViewFrame,
    ErrorFrame,
    Frame,
    HandoverRequestFrame,
    HistoryFrame,
    LabelsChangedFrame,
    MessageAckFrame,
    MessageCreatedFrame,
    MessageSendFrame,
    NotificationFrame,
    PageViewFrame,
    PingFrame,
    PongFrame,
    PresenceChangedFrame,
    PresenceSetFrame,
    QueueChangedFrame,
    ResumeDoneFrame,
    ResumeFrame,
    RoutingEventFrame,
    SessionReadyFrame,
    SupervisorSnapshotFrame,
    SupervisorSnapshotOutFrame,
    TypingFrame,
    TypingOutFrame,
    ViewersChangedFrame,
    VisitorConversationStateFrame,
    VisitorInviteFrame,
    VisitorProfileChangedFrame,
    VisitorsLiveFrame,
    VisitorsLiveOutFrame,
    VisitorUpdatedFrame,
    frame_type,
)
from .parsing import (
    FrameError,
    client_ref,
    parse_client_frame,
)
from .shapes import (
    AgentLoadOut,
    AgentOut,
    AttachmentOut,
    AvailabilityOut,
    ConversationOut,
    LabelOut,
    LiveVisitorOut,
    MessageOut,
    QueueEntryOut,
    RoutingEventOut,
    TeamOut,
    ViewerOut,
    VisitorConversationOut,
    VisitorOut,
)
