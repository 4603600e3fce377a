"""Tenant and audience matrix for every WebSocket frame type: the world, the cast and the cases
shared by its test files.

Outsiders - charlie (agent of merchant "other"), vo (a visitor of "other") and vb (another
visitor of acme, an outsider to visitor A's conversation) - try every client frame against
acme's objects: they get an error or their own answer, acme's sockets receive nothing caused
by them, and nothing of acme's is written (test_tenant_frames.py: charlie, and acme's activity
against everyone else; test_tenant_frames_visitors.py: vo and vb). Two files so that
pytest-xdist (`--dist loadfile`, a file per worker) can run them side by side.
"""

from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from conversations import protocol
from conversations.models import Conversation, Message, RoutingEvent, Visitor, VisitorPageView
from conversations.tokens import visitor_token_issue
from merchants.models import Membership
from tests import dbsnapshot, factories
from tests.conversations.realtime_helpers import (
    agent_sock,
    quiet_all,
    run,
    visitor_sock,
)
from tests.wsclient import open_visitor, session_cookie

CLIENT_TYPES = {
    protocol.frame_type(f) for f in protocol.VISITOR_CLIENT_FRAMES + protocol.AGENT_CLIENT_FRAMES
}
SERVER_TYPES = {f.model_fields["type"].default for f in protocol.SERVER_FRAMES}
# What a visitor socket may ever receive; the rest is for agents only.
VISITOR_TYPES = {
    "session.ready",
    "history",
    "message.ack",
    "message.created",
    "typing",
    "conversation.read",
    "pong",
    "error",
    "conversation.state",
    "availability.changed",
}


# The world of each channel layer kind, built once through the factories (which run the whole
# post-commit pipeline per message, a second or more per test) and put back as rows before each
# later test (tests/dbsnapshot.py): every test still starts from exactly these rows.
_built: dict[str, tuple[SimpleNamespace, dbsnapshot.Snapshot]] = {}


@pytest.fixture
def world(request, channel_layer_kind, transactional_db):
    # channel_layer_kind first: a world built here publishes to this test's layer (60c0e7b).
    if channel_layer_kind in _built:
        w, snapshot = _built[channel_layer_kind]
        snapshot.restore()
        return w
    before = dbsnapshot.counts()
    w = build_world(
        *(request.getfixturevalue(n) for n in ("acme", "other", "alice", "bob", "charlie"))
    )
    _built[channel_layer_kind] = (w, dbsnapshot.Snapshot(before))
    return w


def build_world(acme, other, alice, bob, charlie) -> SimpleNamespace:
    va = factories.visitor(acme, name="访客A", email="a@example.com")
    ca = factories.visitor_message(va, "A's question").conversation_id
    factories.agent_message(bob, ca, "acme internal note 机密", private=True)
    factories.agent_message(bob, ca, "acme reply")
    vb = factories.visitor(acme, name="访客B")
    cb = factories.visitor_message(vb, "B's question").conversation_id
    vo = factories.visitor(other, name="Other visitor")
    co = factories.visitor_message(vo, "other's question").conversation_id
    return SimpleNamespace(
        acme=acme,
        other=other,
        va=va,
        vb=vb,
        vo=vo,
        ca=ca,
        cb=cb,
        co=co,
        alice=alice,
        bob=bob,
        charlie=charlie,
        cookies={m.user.username: session_cookie(m.user) for m in (alice, bob, charlie)},
    )


def acme_snapshot(merchant_id: int):
    """Everything of acme's that a frame could write."""
    return (
        list(
            Message.objects.filter(merchant_id=merchant_id)
            .order_by("id")
            .values_list("id", "conversation_id", "seq", "body", "is_private")
        ),
        list(
            Conversation.objects.filter(merchant_id=merchant_id)
            .order_by("id")
            .values_list(
                "id",
                "status",
                "last_seq",
                "assignee_id",
                "agent_last_read_seq",
                "visitor_last_read_seq",
                "unread_agent_count",
                "unread_visitor_count",
                "queued_at",
                "team_id",
                "routing_attempts",
                "priority",
                "snoozed_at",
                "snoozed_until",
            )
        ),
        RoutingEvent.objects.filter(merchant_id=merchant_id).count(),
        list(
            Visitor.objects.filter(merchant_id=merchant_id)
            .order_by("id")
            .values_list("id", "page_url", "page_title", "last_seen_at")
        ),
        VisitorPageView.objects.filter(merchant_id=merchant_id).count(),
        list(
            Membership.objects.filter(merchant_id=merchant_id)
            .order_by("id")
            .values_list("user_id", "is_away")
        ),
    )


async def cast(w) -> SimpleNamespace:
    s = SimpleNamespace(
        bob=await agent_sock(w.acme.pk, w.cookies["bob"], "bob"),
        alice=await agent_sock(w.acme.pk, w.cookies["alice"], "alice"),
        charlie=await agent_sock(w.other.pk, w.cookies["charlie"], "charlie"),
        va=await visitor_sock(w.acme, w.va, "va", last_seq=3),
        va2=await visitor_sock(w.acme, w.va, "va2", last_seq=3),
        vb=await visitor_sock(w.acme, w.vb, "vb", last_seq=1),
        vo=await visitor_sock(w.other, w.vo, "vo", last_seq=1),
    )
    await quiet_all(*vars(s).values())
    return s


# --- outsiders against acme ---------------------------------------------------------------------
# (id, actor, frame(w) or a special, expected: an error code or the frame type of the answer)

CASES = [
    # charlie, on his own merchant's agent socket, naming acme's conversation
    ("charlie-ping", "charlie", lambda w: {"type": "ping"}, "pong"),
    (
        "charlie-send",
        "charlie",
        lambda w: {
            "type": "message.send",
            "client_msg_id": "x1",
            "body": "hijack",
            "conversation_id": w.ca,
        },
        "not_found",
    ),
    (
        "charlie-note",
        "charlie",
        lambda w: {
            "type": "message.send",
            "client_msg_id": "x2",
            "body": "note",
            "conversation_id": w.ca,
            "private": True,
        },
        "not_found",
    ),
    (
        "charlie-read",
        "charlie",
        lambda w: {"type": "conversation.read", "conversation_id": w.ca, "seq": 3},
        "not_found",
    ),
    (
        "charlie-resume",
        "charlie",
        lambda w: {"type": "resume", "conversations": {str(w.ca): 0, str(w.cb): 0}},
        "resume.done",
    ),
    (
        "charlie-typing",
        "charlie",
        lambda w: {"type": "typing", "conversation_id": w.ca, "active": True},
        "not_found",
    ),
    (
        "charlie-typing-off",
        "charlie",
        lambda w: {"type": "typing", "conversation_id": w.ca, "active": False},
        "not_found",
    ),
    (
        "charlie-view",
        "charlie",
        lambda w: {"type": "conversation.view", "conversation_id": w.ca},
        "not_found",
    ),
    (
        "charlie-presence",
        "charlie",
        lambda w: {"type": "presence.set", "status": "away"},
        "presence.changed",
    ),
    (
        "charlie-auth",
        "charlie",
        lambda w: {
            "type": "auth",
            "token": visitor_token_issue(merchant_id=w.acme.pk, visitor_id=w.va.pk),
        },
        "unknown_type",
    ),
    (
        "charlie-page",
        "charlie",
        lambda w: {"type": "page.view", "url": "https://x"},
        "unknown_type",
    ),
    # routing actions on acme's conversation (charlie is an owner, but of "other")
    (
        "charlie-claim",
        "charlie",
        lambda w: {"type": "conversation.claim", "conversation_id": w.cb},
        "not_found",
    ),
    (
        "charlie-transfer",
        "charlie",
        lambda w: {
            "type": "conversation.transfer",
            "conversation_id": w.ca,
            "to_user_id": w.charlie.user_id,
            "note": "mine",
        },
        "not_found",
    ),
    (
        "charlie-transfer-team",
        "charlie",
        lambda w: {"type": "conversation.transfer", "conversation_id": w.ca, "to_team_id": 1},
        "not_found",
    ),
    (
        "charlie-status",
        "charlie",
        lambda w: {"type": "conversation.status", "conversation_id": w.ca, "status": "resolved"},
        "not_found",
    ),
    # inbox triage (services.inbox)
    (
        "charlie-snooze",
        "charlie",
        lambda w: {"type": "conversation.snooze", "conversation_id": w.ca},
        "not_found",
    ),
    (
        "charlie-unsnooze",
        "charlie",
        lambda w: {"type": "conversation.unsnooze", "conversation_id": w.ca},
        "not_found",
    ),
    (
        "charlie-priority",
        "charlie",
        lambda w: {"type": "conversation.priority", "conversation_id": w.ca, "priority": 20},
        "not_found",
    ),
    ("charlie-handover", "charlie", lambda w: {"type": "handover.request"}, "unknown_type"),
    (
        "charlie-rate",
        "charlie",
        lambda w: {"type": "conversation.rate", "rating": 5},
        "unknown_type",
    ),
    # vo, a visitor of other, on other's widget
    # Visitors now and the supervisor screen (issue 13): charlie's own answers, never acme's.
    (
        "charlie-visitors-live",
        "charlie",
        lambda w: {"type": "visitors.live", "visitor_ids": [w.va.pk]},
        "visitors.live",
    ),
    (
        "charlie-invite",
        "charlie",
        lambda w: {
            "type": "visitor.invite",
            "visitor_id": w.va.pk,
            "client_msg_id": "x9",
            "body": "come chat",
        },
        "not_found",
    ),
    (
        "charlie-supervise",
        "charlie",
        lambda w: {"type": "supervisor.snapshot"},
        "supervisor.snapshot",
    ),
    (
        "charlie-join",
        "charlie",
        lambda w: {"type": "conversation.join", "conversation_id": w.ca, "reason": "mine"},
        "not_found",
    ),
    ("vo-ping", "vo", lambda w: {"type": "ping"}, "pong"),
    (
        "vo-auth-again",
        "vo",
        lambda w: {
            "type": "auth",
            "token": visitor_token_issue(merchant_id=w.acme.pk, visitor_id=w.va.pk),
        },
        "already_authenticated",
    ),
    ("vo-auth-on-acme-key", "vo", "auth-on-acme-key", "merchant_mismatch"),
    (
        "vo-send-into",
        "vo",
        lambda w: {
            "type": "message.send",
            "client_msg_id": "y1",
            "body": "hijack",
            "conversation_id": w.ca,
        },
        "invalid_frame",
    ),
    (
        "vo-send-own",
        "vo",
        lambda w: {"type": "message.send", "client_msg_id": "y2", "body": "own question"},
        "message.ack",
    ),
    (
        "vo-read",
        "vo",
        lambda w: {"type": "conversation.read", "conversation_id": w.ca, "seq": 3},
        "not_found",
    ),
    ("vo-read-own", "vo", lambda w: {"type": "conversation.read", "seq": 1}, "conversation.read"),
    (
        "vo-typing-into",
        "vo",
        lambda w: {"type": "typing", "conversation_id": w.ca, "text": "x"},
        "invalid_frame",
    ),
    ("vo-typing-own", "vo", lambda w: {"type": "typing", "text": "typing to other"}, None),
    ("vo-page", "vo", lambda w: {"type": "page.view", "url": "https://other.example/"}, None),
    (
        "vo-resume",
        "vo",
        lambda w: {"type": "resume", "conversations": {str(w.ca): 0}},
        "unknown_type",
    ),
    ("vo-presence", "vo", lambda w: {"type": "presence.set", "status": "away"}, "unknown_type"),
    (
        "vo-view",
        "vo",
        lambda w: {"type": "conversation.view", "conversation_id": w.ca},
        "unknown_type",
    ),
    (
        "vo-claim",
        "vo",
        lambda w: {"type": "conversation.claim", "conversation_id": w.cb},
        "unknown_type",
    ),
    (
        "vo-transfer",
        "vo",
        lambda w: {"type": "conversation.transfer", "conversation_id": w.ca, "to_user_id": 1},
        "unknown_type",
    ),
    (
        "vo-status",
        "vo",
        lambda w: {"type": "conversation.status", "conversation_id": w.ca, "status": "resolved"},
        "unknown_type",
    ),
    (
        "vo-snooze",
        "vo",
        lambda w: {"type": "conversation.snooze", "conversation_id": w.ca},
        "unknown_type",
    ),
    (
        "vo-unsnooze",
        "vo",
        lambda w: {"type": "conversation.unsnooze", "conversation_id": w.ca},
        "unknown_type",
    ),
    (
        "vo-priority",
        "vo",
        lambda w: {"type": "conversation.priority", "conversation_id": w.ca, "priority": 20},
        "unknown_type",
    ),
    # "talk to a human" acts on the sender's own conversation only (not the bot's: its state)
    ("vo-handover", "vo", lambda w: {"type": "handover.request"}, "conversation.state"),
    # A rating acts on the sender's own conversation only (vo's is open: nothing to rate)
    ("vo-rate", "vo", lambda w: {"type": "conversation.rate", "rating": 5}, "not_resolved"),
    ("vo-visitors-live", "vo", lambda w: {"type": "visitors.live"}, "unknown_type"),
    (
        "vo-invite",
        "vo",
        lambda w: {
            "type": "visitor.invite",
            "visitor_id": w.va.pk,
            "client_msg_id": "y9",
            "body": "x",
        },
        "unknown_type",
    ),
    ("vo-supervise", "vo", lambda w: {"type": "supervisor.snapshot"}, "unknown_type"),
    (
        "vo-join",
        "vo",
        lambda w: {"type": "conversation.join", "conversation_id": w.ca, "reason": "x"},
        "unknown_type",
    ),
    # vb, another visitor of acme, against visitor A's conversation
    (
        "vb-send-into",
        "vb",
        lambda w: {
            "type": "message.send",
            "client_msg_id": "z1",
            "body": "hijack",
            "conversation_id": w.ca,
        },
        "invalid_frame",
    ),
    (
        "vb-read",
        "vb",
        lambda w: {"type": "conversation.read", "conversation_id": w.ca, "seq": 3},
        "not_found",
    ),
    (
        "vb-typing-into",
        "vb",
        lambda w: {"type": "typing", "conversation_id": w.ca, "text": "x"},
        "invalid_frame",
    ),
    (
        "vb-resume",
        "vb",
        lambda w: {"type": "resume", "conversations": {str(w.ca): 0}},
        "unknown_type",
    ),
    (
        "vb-view",
        "vb",
        lambda w: {"type": "conversation.view", "conversation_id": w.ca},
        "unknown_type",
    ),
    (
        "vb-claim",
        "vb",
        lambda w: {"type": "conversation.claim", "conversation_id": w.ca},
        "unknown_type",
    ),
    ("vb-handover", "vb", lambda w: {"type": "handover.request"}, "conversation.state"),
    ("vb-rate", "vb", lambda w: {"type": "conversation.rate", "rating": 1}, "not_resolved"),
]
ERROR_CODES = set(protocol.ErrorCode.DESCRIPTIONS)


def case_frame_type(case) -> str:
    _, _, build, _ = case
    if build == "auth-on-acme-key":
        return "auth"
    fake = SimpleNamespace(
        acme=SimpleNamespace(pk=1),
        va=SimpleNamespace(pk=1),
        ca=1,
        cb=2,
        charlie=SimpleNamespace(user_id=1),
    )
    return build(fake)["type"]


def outsider_frame_touches_nothing_of_acme(w: SimpleNamespace, case) -> None:
    """One outsider sends one frame (a case of CASES) with every socket of the cast open: it gets
    its expected answer, acme's sockets hear nothing of it, its answer names nothing of acme's
    and no row of acme's changed."""
    case_id, actor, build, expected = case
    if actor == "vb":
        victims = ("va", "va2")  # acme's agents legitimately hear vb; va must not
    else:
        victims = ("bob", "alice", "va", "va2", "vb")

    async def scenario():
        s = await cast(w)
        # Taken once acme's agents are connected: an agent coming online legitimately serves
        # acme's queue (conversations.routing), which is not the outsider's doing.
        before = await sync_to_async(acme_snapshot)(w.acme.pk)
        outsider = getattr(s, actor)
        mark = len(outsider.log)
        if build == "auth-on-acme-key":
            # vo's own, valid token, presented to acme's widget socket.
            comm, connected, _ = await open_visitor(w.acme)
            assert connected
            token = await sync_to_async(visitor_token_issue)(
                merchant_id=w.other.pk, visitor_id=w.vo.pk
            )
            await comm.send_json_to({"type": "auth", "token": token})
            error = await comm.receive_json_from(timeout=5)
            assert (error["type"], error["code"]) == ("error", expected)
            assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
            await comm.disconnect()
        else:
            frame = await sync_to_async(build)(w)
            await outsider.send(frame)
            if expected in ERROR_CODES:
                error = await outsider.until("error")
                assert error["code"] == expected, error
            elif expected is not None:
                await outsider.until(expected)
        got = await quiet_all(*vars(s).values())
        for name in victims:
            assert got[name] == [], (case_id, name, got[name])
        answer = outsider.log[mark:]
        if actor == "vb":
            # acme's agents may hear vb, never about A's conversation.
            for name in ("bob", "alice"):
                assert all(f.get("conversation_id") != w.ca for f in got[name]), got[name]
        # Whatever the outsider got back names nothing of acme's (beyond echoing its own ids and
        # the name of the agent who has vb's own conversation, as vb's widget header shows it).
        text = repr(
            [
                {**f, "conversation": {**f["conversation"], "agent_name": ""}}
                if actor == "vb"
                and f["type"] == "conversation.state"
                and f["conversation"]["id"] == w.cb
                else f
                for f in answer
            ]
        )
        for secret in ("A's question", "acme internal note", "acme reply", "访客A", "Bob", "Alice"):
            assert secret not in text, (case_id, answer)
        assert not [
            f
            for f in answer
            if f["type"] in ("history", "message.created")
            and f.get("conversation_id", f.get("message", {}).get("conversation_id"))
            in (w.ca, w.cb)
        ]
        assert await sync_to_async(acme_snapshot)(w.acme.pk) == before
        for sock in vars(s).values():
            await sock.close()

    run(scenario())
