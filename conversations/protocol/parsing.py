"""Turning a client's decoded JSON into a frame, or a FrameError saying which code and which
fields: the rules every client frame passes before a consumer sees it."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter, ValidationError

from kefu.text import SURROGATE_MESSAGE, surrogate_in

from .codes import ErrorCode
from .frames import AGENT_CLIENT_FRAMES, VISITOR_CLIENT_FRAMES, Frame, frame_type


class FrameError(Exception):
    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None, ref=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.ref = ref


def _adapter(frames):
    # Union[...] of a runtime tuple: `X | Y` cannot be spelled for a list built at import time.
    union = Annotated[Union[tuple(frames)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


_ADAPTERS = {"visitor": _adapter(VISITOR_CLIENT_FRAMES), "agent": _adapter(AGENT_CLIENT_FRAMES)}
_TYPES = {
    role: {frame_type(f) for f in frames}
    for role, frames in (("visitor", VISITOR_CLIENT_FRAMES), ("agent", AGENT_CLIENT_FRAMES))
}


def parse_client_frame(role: str, data) -> Frame:
    """Validate a decoded JSON value as a client frame for `role`, or raise FrameError."""
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.INVALID_JSON, "A frame is a JSON object.")
    ref = client_ref(data)
    kind = data.get("type")
    # Not `in` first: a list or an object as `type` is unhashable (TypeError, internal_error).
    if not isinstance(kind, str) or kind not in _TYPES[role]:
        shown = repr(kind) if isinstance(kind, str) else "of the wrong type"
        raise FrameError(
            ErrorCode.UNKNOWN_TYPE,
            f"Unknown frame type {shown[:80]} for a {role} socket.",
            ref=ref,
        )
    surrogates = _surrogate_fields(data)
    if surrogates:
        raise FrameError(ErrorCode.INVALID_FRAME, "The frame is not valid.", surrogates, ref=ref)
    try:
        return _ADAPTERS[role].validate_python(data)
    except ValidationError as exc:
        fields = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if p != kind]
            fields[".".join(loc) or "frame"] = err["msg"]
        raise FrameError(
            ErrorCode.INVALID_FRAME, "The frame is not valid.", fields, ref=ref
        ) from None


def client_ref(data) -> str | None:
    """The frame's `client_msg_id` to echo as an error's `ref`, if it can be echoed: a string
    (cut to the field's 64 characters) without a lone surrogate, which cannot be sent as UTF-8:
    echoing one closed the socket with 1011 (found by the WebSocket fuzz)."""
    ref = data.get("client_msg_id") if isinstance(data, dict) else None
    if not isinstance(ref, str) or surrogate_in(ref):
        return None
    return ref[:64]


def _surrogate_fields(data: dict) -> dict[str, str]:
    """Every string of the frame (at any depth, keys too) holding a lone surrogate, by field
    path: the same rule as the REST API's (kefu/text.py), checked before anything is stored."""
    found: dict[str, str] = {}
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            char = surrogate_in(value)
            if char:
                found[path or "frame"] = f"{SURROGATE_MESSAGE} ({char})"
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if surrogate_in(str(key)):
                    found[path or "frame"] = SURROGATE_MESSAGE
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", item) for i, item in enumerate(value))
    return found
