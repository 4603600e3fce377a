"""A fuzz of every client frame type on both sockets, against a real daphne process (issue 16,
docs/security.md "What CI runs"): each field of each frame (and an unknown one, and `type`
itself) gets malformed, oversized, deeply nested and wrongly typed values, plus whole frames
that are not frames at all.

The cases are a fixed table (deterministic in CI). The oracle is the protocol itself: a frame
that `protocol.parse_client_frame` refuses must get an `error` frame with that code; one it
accepts may get any answer but `internal_error`. After every case a `ping` must still get its
`pong` (the socket stays open: never 1011), and daphne's log must hold no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conversations import protocol
from conversations.protocol import ErrorCode, FrameError
from conversations.tokens import visitor_token_issue
from kefu import jsonsafe
from merchants.models import Membership
from tests import factories
from tests.conftest import DaphneProcess, child_env, free_port
from tests.wsclient import session_cookie

pytestmark = [pytest.mark.slow, pytest.mark.live]

RAW = "\x00raw\x00"  # a value replaced by raw JSON text after encoding (see `encode`)
DEEP_BRACKETS = "[" * 5_000 + "]" * 5_000  # 10 KB of brackets, deeper than Python recurses
DEEP_OBJECTS = '{"a": ' * 40 + "1" + "}" * 40  # deeper than jsonsafe.MAX_DEPTH, recursion-safe


class Raw(str):
    """A value sent as raw JSON text rather than encoded (nesting, NaN, number forms)."""


# Values each field gets, whatever its type.
HOSTILE = (
    None,
    True,
    0,
    -1,
    1.5,
    10**30,  # beyond every integer column
    -(10**30),
    2**63,  # one past BIGINT
    "1",  # a number as a string
    "",
    "\ud800",  # a lone surrogate: valid JSON, not UTF-8
    "x\u0000y",  # NUL
    "é" * 5_000,  # long, multi-byte
    [],
    ["ping"],
    {},
    {"type": "ping"},
    Raw(DEEP_BRACKETS),
    Raw(DEEP_OBJECTS),
    Raw("NaN"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("1" * 5_000),  # an integer literal of 5,000 digits (Python refuses > 4,300 to int())
)
# Values of `type` itself.
TYPES = (None, 1, 1.0, True, [], ["ping"], {}, {"ping": 1}, "", "PING", "ping\ud800", "x" * 5_000)
# Whole frames that are not a frame.
NOT_FRAMES = (
    "",
    " ",
    "null",
    "[]",
    '"ping"',
    "1",
    "{",
    '{"type": "ping"',
    "{'type': 'ping'}",
    '{"type": "ping"}{"type": "ping"}',
    DEEP_BRACKETS,
    '{"type": "ping", "x": ' + DEEP_BRACKETS + "}",
    '{"type": "ping", "x": "' + "x" * (protocol.MAX_FRAME_BYTES + 10) + '"}',  # oversized
    "x" * (1 << 20),  # 1 MB of garbage
    '{"type": "ping", "\\ud800": 1}',  # a lone surrogate as a key
)


def encode(frame: dict) -> str:
    raws = []

    def default(value):
        raise TypeError(value)

    def substitute(value):
        if isinstance(value, Raw):
            raws.append(str(value))
            return RAW
        return value

    text = json.dumps({k: substitute(v) for k, v in frame.items()}, default=default)
    for raw in raws:
        text = text.replace(json.dumps(RAW), raw, 1)
    return text


def expected_code(role: str, text: str) -> str | None:
    """The error code the protocol gives this frame before any handler runs, or None (it parses:
    then the server may answer anything but `internal_error`)."""
    if len(text.encode("utf-8", "surrogatepass")) > protocol.MAX_FRAME_BYTES:
        return ErrorCode.FRAME_TOO_LARGE
    try:
        data = jsonsafe.loads(text)
    except ValueError:
        return ErrorCode.INVALID_JSON
    try:
        protocol.parse_client_frame(role, data)
    except FrameError as exc:
        return exc.code
    return None


def field_cases(role: str, bases: dict[str, dict]) -> list[tuple[str, str]]:
    """(name, text) for every frame type of the role x every field (plus an unknown one) x every
    hostile value, every hostile `type`, and the non-frames."""
    frames = protocol.VISITOR_CLIENT_FRAMES if role == "visitor" else protocol.AGENT_CLIENT_FRAMES
    cases = []
    for model in frames:
        frame_type = protocol.frame_type(model)
        base = bases[frame_type]
        for field in [*(f for f in model.model_fields if f != "type"), "unknown_field"]:
            for i, value in enumerate(HOSTILE):
                cases.append((f"{frame_type}.{field}[{i}]", encode({**base, field: value})))
    for i, value in enumerate(TYPES):
        cases.append((f"type[{i}]", encode({"type": value})))
    for i, text in enumerate(NOT_FRAMES):
        cases.append((f"not-a-frame[{i}]", text))
    return cases


def exchange(ws, role: str, name: str, text: str) -> None:
    """Send one case, then a ping; every frame up to the pong is checked."""
    expected = expected_code(role, text)
    try:
        ws.send(text)
        ws.send('{"type": "ping"}')
        errors = []
        while True:
            frame = json.loads(ws.recv(timeout=20))
            if frame["type"] == "pong":
                break
            if frame["type"] == "error":
                errors.append(frame)
    except ConnectionClosed as exc:
        raise AssertionError(f"{role} {name}: socket closed {exc.rcvd}: {text[:200]!r}") from None
    except TimeoutError:
        raise AssertionError(f"{role} {name}: no pong: {text[:200]!r}") from None
    codes = [e.get("code") for e in errors]
    assert ErrorCode.INTERNAL_ERROR not in codes, (role, name, text[:200], errors)
    assert all(code in ErrorCode.DESCRIPTIONS for code in codes), (role, name, errors)
    if expected is not None:
        assert codes[:1] == [expected], (role, name, text[:200], expected, errors)


@pytest.fixture
def fuzz_daphne(transactional_db, tmp_path):
    """daphne with the per-socket frame budget raised: the fuzz sends ~2,000 frames a socket,
    and the limit itself is tested in tests/kefu/test_ratelimit.py."""
    process = DaphneProcess(
        free_port(),
        tmp_path / "daphne.log",
        child_env(WS_RATE_PER_SECOND="100000", WS_RATE_BURST="100000"),
    )
    yield process
    process.stop()


def assert_clean_log(process: DaphneProcess) -> None:
    log = process.log()
    assert "Traceback" not in log, log[-10_000:]
    assert "internal_error" not in log and "frame handling failed" not in log, log[-10_000:]


def test_every_agent_frame_type_survives_hostile_values(fuzz_daphne):
    server = fuzz_daphne
    acme = factories.merchant("Acme 模糊", allowed_origins=server.url)
    owner = factories.member(acme, "fuzz-owner", role=Membership.Role.OWNER)
    factories.member(acme, "fuzz-agent")
    message = factories.visitor_message(factories.visitor(acme), "你好")
    conversation = message.conversation_id
    guest = factories.visitor(acme)  # browsing, no conversation yet: the one to invite
    bases = {
        "ping": {"type": "ping"},
        "message.send": {
            "type": "message.send",
            "client_msg_id": "fz-1",
            "body": "您好",
            "conversation_id": conversation,
        },
        "conversation.read": {
            "type": "conversation.read",
            "conversation_id": conversation,
            "seq": 1,
        },
        "resume": {"type": "resume", "conversations": {str(conversation): 0}},
        "typing": {"type": "typing", "conversation_id": conversation, "active": True},
        "presence.set": {"type": "presence.set", "status": "online"},
        "conversation.view": {"type": "conversation.view", "conversation_id": conversation},
        "conversation.claim": {"type": "conversation.claim", "conversation_id": conversation},
        "conversation.transfer": {
            "type": "conversation.transfer",
            "conversation_id": conversation,
            "to_user_id": owner.user_id,
        },
        "conversation.status": {
            "type": "conversation.status",
            "conversation_id": conversation,
            "status": "open",
        },
        "conversation.snooze": {"type": "conversation.snooze", "conversation_id": conversation},
        "conversation.unsnooze": {"type": "conversation.unsnooze", "conversation_id": conversation},
        "conversation.priority": {
            "type": "conversation.priority",
            "conversation_id": conversation,
            "priority": 10,
        },
        "visitors.live": {"type": "visitors.live", "visitor_ids": [guest.pk]},
        "visitor.invite": {
            "type": "visitor.invite",
            "visitor_id": guest.pk,
            "client_msg_id": "fz-invite",
            "body": "需要帮忙吗？",
        },
        "supervisor.snapshot": {"type": "supervisor.snapshot"},
        "conversation.join": {
            "type": "conversation.join",
            "conversation_id": conversation,
            "reason": "质检",
        },
    }
    cases = field_cases("agent", bases)
    with connect(
        f"{server.ws_url}/ws/agent/{acme.pk}/",
        origin=server.url,
        additional_headers={"Cookie": session_cookie(owner.user).decode()},
        max_size=None,
    ) as ws:
        for name, text in cases:
            exchange(ws, "agent", name, text)
    assert len(cases) > 900
    assert_clean_log(server)


def test_every_visitor_frame_type_survives_hostile_values(fuzz_daphne):
    server = fuzz_daphne
    acme = factories.merchant("Acme 模糊", allowed_origins=server.url)
    visitor = factories.visitor(acme)
    token = visitor_token_issue(merchant_id=acme.pk, visitor_id=visitor.pk)
    url = f"{server.ws_url}/ws/visitor/?key={acme.widget_key}"
    bases = {
        "auth": {"type": "auth", "token": token, "last_seq": 0},
        "ping": {"type": "ping"},
        "message.send": {"type": "message.send", "client_msg_id": "fz-1", "body": "你好"},
        "conversation.read": {"type": "conversation.read", "seq": 1},
        "typing": {"type": "typing", "text": "你"},
        "page.view": {"type": "page.view", "url": "https://shop.example/a", "title": "A"},
        "handover.request": {"type": "handover.request"},
        "conversation.rate": {"type": "conversation.rate", "rating": 5},
    }
    cases = field_cases("visitor", bases)
    auth_cases = [(n, t) for n, t in cases if n.startswith("auth.")]

    def authenticated():
        ws = connect(url, origin=server.url, max_size=None)
        ws.send(json.dumps(bases["auth"]))
        while json.loads(ws.recv(timeout=20))["type"] != "session.ready":
            pass
        return ws

    # `auth` itself, on fresh sockets: a token that is not ours closes the socket (4401, by
    # design); any other refusal leaves it open.
    for name, text in auth_cases:
        with connect(url, origin=server.url, max_size=None) as ws:
            try:
                exchange(ws, "visitor", name, text)
            except AssertionError as exc:
                if "socket closed" not in str(exc):
                    raise
                assert ws.close_code in (4401, 4403), (name, ws.close_code, text[:200])
    with authenticated() as ws:
        for name, text in cases:
            if name not in dict(auth_cases):
                exchange(ws, "visitor", name, text)
    assert len(cases) > 400
    assert_clean_log(server)


def test_the_cases_cover_every_client_frame_type():
    """The table follows the protocol: a new frame type without a base frame here fails."""
    source = Path(__file__).read_text()
    for model in {*protocol.VISITOR_CLIENT_FRAMES, *protocol.AGENT_CLIENT_FRAMES}:
        frame_type = protocol.frame_type(model)
        assert f'"{frame_type}": {{' in source, frame_type
