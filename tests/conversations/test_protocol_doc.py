"""docs/protocol.md is generated from the protocol package; these tests keep them in step."""

from pathlib import Path

from django.conf import settings

from conversations import consumers, protocol
from conversations.protocol_doc import render

DOC = Path(settings.BASE_DIR) / "docs" / "protocol.md"


def test_protocol_doc_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/protocol.md is stale: run `make protocol-doc` (manage.py protocol_doc --write)"
    )


def test_every_frame_and_error_code_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for frame in (
        protocol.VISITOR_CLIENT_FRAMES + protocol.AGENT_CLIENT_FRAMES + protocol.SERVER_FRAMES
    ):
        name = protocol.frame_type(frame)
        assert f"### `{name}`" in text
        assert frame.__doc__, f"{frame.__name__} needs a docstring: it is its documentation"
    codes = {v for k, v in vars(protocol.ErrorCode).items() if k.isupper() and isinstance(v, str)}
    assert codes == set(protocol.ErrorCode.DESCRIPTIONS)
    for code in codes:
        assert f"| `{code}` |" in text


def test_every_client_frame_has_a_handler_on_each_socket_that_accepts_it():
    for consumer, frames in (
        (consumers.VisitorConsumer, protocol.VISITOR_CLIENT_FRAMES),
        (consumers.AgentConsumer, protocol.AGENT_CLIENT_FRAMES),
    ):
        for frame in frames:
            name = protocol.frame_type(frame)
            if name in ("ping", "auth"):
                continue
            assert hasattr(consumer, "frame_" + name.replace(".", "_")), (consumer, name)


def test_error_codes_used_in_code_are_declared():
    """Every ErrorCode.X referenced by the realtime path is one the doc describes."""
    import re

    root = Path(settings.BASE_DIR)
    used = set()
    paths = [
        *(root / "conversations" / "consumers").glob("*.py"),
        *(root / "conversations" / "services").glob("*.py"),
        root / "conversations" / "tokens.py",
    ]
    for path in paths:
        used |= set(re.findall(r"ErrorCode\.([A-Z_]+)", path.read_text()))
    declared = {k for k in vars(protocol.ErrorCode) if k.isupper()}
    assert used and used <= declared


def test_sockets_forward_exactly_the_event_frames_of_the_catalogue():
    """A group event reaches the client as it is only when the protocol calls it an event frame;
    the frames that answer one socket are never forwarded from a group."""
    events = {protocol.frame_type(frame) for frame in protocol.EVENT_FRAMES}
    assert events == consumers.FORWARDED
    assert set(protocol.EVENT_FRAMES) <= set(protocol.SERVER_FRAMES)
    replies = {protocol.frame_type(frame) for frame in protocol.SERVER_FRAMES} - events
    assert replies == {
        "session.ready",
        "history",
        "message.ack",
        "resume.done",
        "pong",
        "error",
        # Answers to one agent's request (issue 13: Visitors now, the supervisor screen).
        "visitors.live",
        "supervisor.snapshot",
    }


def test_the_package_offers_every_public_name_of_its_modules():
    """Callers and the generator read `protocol.X`; a frame added to a module but not
    re-exported from the package's __init__ would be invisible to them."""
    import ast
    import importlib

    folder = Path(protocol.__file__).parent
    missing = []
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"conversations.protocol.{path.stem}")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_") and getattr(protocol, name, None) is not getattr(
                    module, name
                ):
                    missing.append(f"{path.stem}.{name}")
    assert missing == []
