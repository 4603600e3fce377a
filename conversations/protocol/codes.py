"""The protocol's numbers: its version, the limits on client frames, every error code an `error`
frame can carry and every close code (conversations/protocol/__init__.py says how the package
is laid out)."""

from __future__ import annotations

PROTOCOL_VERSION = 1
# Largest text frame a client may send, in bytes (UTF-8). Larger frames get `frame_too_large`.
MAX_FRAME_BYTES = 64 * 1024

# Every integer a client sends (ids, seqs) is at most a signed 64-bit integer, the widest
# column: a larger one reached the database driver and failed there (OverflowError, so
# `internal_error`; found by the WebSocket fuzz). Over it is `invalid_frame`.
MAX_INT = 2**63 - 1


class ErrorCode:
    """Every `code` an `error` frame can carry, with what it means."""

    INVALID_JSON = "invalid_json"
    FRAME_TOO_LARGE = "frame_too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FRAME = "invalid_frame"
    AUTH_REQUIRED = "auth_required"
    ALREADY_AUTHENTICATED = "already_authenticated"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    MERCHANT_MISMATCH = "merchant_mismatch"
    NOT_FOUND = "not_found"
    MESSAGE_EMPTY = "message_empty"
    MESSAGE_TOO_LONG = "message_too_long"
    CLIENT_MSG_ID_CONFLICT = "client_msg_id_conflict"
    CONVERSATION_CLOSED = "conversation_closed"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_SOCKETS = "too_many_sockets"
    FORBIDDEN = "forbidden"
    ALREADY_ASSIGNED = "already_assigned"
    AGENT_UNAVAILABLE = "agent_unavailable"
    VISITOR_BLOCKED = "visitor_blocked"
    NOT_RESOLVED = "not_resolved"
    ALREADY_RATED = "already_rated"
    RATING_OFF = "rating_off"
    INTERNAL_ERROR = "internal_error"
    # Attachments (HTTP upload, then `message.send` with `attachment_id`).
    FILE_EMPTY = "file_empty"
    FILE_TOO_LARGE = "file_too_large"
    FILE_TYPE = "file_type"
    FILE_DAMAGED = "file_damaged"
    UPLOAD_ID_CONFLICT = "upload_id_conflict"
    ATTACHMENT_INVALID = "attachment_invalid"

    DESCRIPTIONS = {
        INVALID_JSON: "The frame is not a JSON object.",
        FRAME_TOO_LARGE: f"The frame is larger than {MAX_FRAME_BYTES} bytes.",
        UNKNOWN_TYPE: "The frame's `type` is not one this socket accepts.",
        INVALID_FRAME: "A field is missing, has the wrong type, or is not allowed; "
        "`fields` names them.",
        AUTH_REQUIRED: "A visitor socket must send `auth` before anything else.",
        ALREADY_AUTHENTICATED: "`auth` was sent twice on one socket.",
        TOKEN_INVALID: "The visitor token is not one this server signed. The socket closes (4401).",
        TOKEN_EXPIRED: "The visitor token is too old: bootstrap again. The socket closes (4401).",
        MERCHANT_MISMATCH: "The token belongs to another merchant than the socket's widget key. "
        "The socket closes (4403).",
        NOT_FOUND: "The conversation does not exist for this merchant (or this visitor).",
        MESSAGE_EMPTY: "The message body is empty after trimming white space.",
        MESSAGE_TOO_LONG: "The message body is longer than the limit (5,000 characters by default).",
        CLIENT_MSG_ID_CONFLICT: "The `client_msg_id` was already used by this sender in this "
        "conversation for a different body. Nothing is stored; the original stays as it was.",
        CONVERSATION_CLOSED: "Agents cannot write to a closed conversation.",
        RATE_LIMITED: "Too many frames too fast on this socket (pings count too). Nothing was "
        "done; `retry_after` says how many seconds to wait. The socket stays open. Sent before "
        "close 4429 when this address opened too many sockets lately or failed to authenticate "
        "too often.",
        TOO_MANY_SOCKETS: "This visitor already has the maximum number of open sockets (tabs). "
        "The socket closes (4429).",
        FORBIDDEN: "This agent's role does not allow the action (e.g. reassigning someone "
        "else's conversation needs an owner or admin).",
        ALREADY_ASSIGNED: "Someone else claimed or was given the conversation first; nothing was "
        "changed. `conversation.updated` carries the current assignee.",
        AGENT_UNAVAILABLE: "The target agent or team cannot take the conversation (inactive, not "
        "in this merchant, or no such team).",
        VISITOR_BLOCKED: "Visitors: the merchant has blocked this visitor; nothing was stored. "
        "The widget shows that the chat is closed.",
        NOT_RESOLVED: "Only a resolved conversation can be rated.",
        ALREADY_RATED: "The visitor already rated this conversation since it was last resolved "
        "(a reopened and resolved again conversation can be rated again).",
        RATING_OFF: "The merchant does not ask for ratings.",
        INTERNAL_ERROR: "The server failed; nothing was stored. Retry with the same `client_msg_id`.",
        FILE_EMPTY: "Upload: the file has no bytes.",
        FILE_TOO_LARGE: "Upload: the file is larger than the merchant's limit, or the image has "
        "more pixels than the server decodes.",
        FILE_TYPE: "Upload: what the file contains (read from its bytes, not its name) is not a "
        "type this merchant accepts; HTML, SVG and other markup never are.",
        FILE_DAMAGED: "Upload: the file starts like an image but does not decode (truncated or "
        "not an image).",
        UPLOAD_ID_CONFLICT: "Upload: the `upload_id` was already used by this uploader for a "
        "different file. Nothing is stored.",
        ATTACHMENT_INVALID: "`attachment_id` is not an upload of this sender in this merchant, "
        "or it was already sent in another message. Nothing is stored.",
    }


# WebSocket close codes the server uses.
CLOSE_CODES = {
    4401: "Not authenticated (agent without session; visitor token invalid or expired).",
    4403: "Not allowed (origin not allowed for the widget key, unknown widget key, "
    "not a member of the merchant, token for another merchant); on an open agent socket: "
    "access revoked (membership deactivated or removed, user deactivated). Do not reconnect.",
    4408: "Heartbeat missed: no frame from the client for the heartbeat timeout.",
    4429: "Too many open sockets for this visitor, too many sockets opened from this address "
    "lately, or too many failed visitor sign-ins from it: reconnect after the `retry_after` of "
    "the error frame before it, slowly.",
}
