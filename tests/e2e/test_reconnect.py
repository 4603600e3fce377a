"""The server goes away and comes back: both front ends show it, keep what was typed meanwhile
in their outbox, resend it with the same client_msg_id and catch up from the database."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from tests.conftest import DaphneProcess, child_env

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_both_sides_reconnect_and_flush_their_outbox(
    daphne_server, shop, agent, new_page, tmp_path
):
    base = daphne_server.url
    visitor, _ = new_page()
    sockets = []
    visitor.on("websocket", lambda ws: sockets.append(ws))
    visitor.goto(f"{base}/widget/demo/?key={shop.widget_key}")
    widget = visitor.locator("#kefu-widget")
    widget.locator(".launcher").click()
    widget.locator("textarea").fill("第一条")
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    workspace, _ = new_page()
    login(workspace, base, "xiaomei")
    workspace.locator("#conv-list li button").click()
    expect(workspace.locator("#messages .msg")).to_have_count(1)

    daphne_server.stop()
    expect(widget.locator(".status.conn")).to_be_visible()
    expect(workspace.locator("#conn")).to_have_class(re.compile("conn-reconnecting"))

    # Written while the server is down: shown as pending, kept in the outbox.
    widget.locator("textarea").fill("断线时发的")
    widget.locator("textarea").press("Enter")
    workspace.fill("#reply-body", "我也在断线时回复")
    workspace.press("#reply-body", "Enter")
    expect(widget.locator(".msg.pending")).to_have_count(1)
    expect(workspace.locator("#messages .msg.pending")).to_have_count(1)

    # A short heartbeat timeout: the clients must ping as often as session.ready tells them.
    again = DaphneProcess(
        daphne_server.port, tmp_path / "daphne-again.log", child_env(WS_HEARTBEAT_TIMEOUT="3")
    )
    try:
        expect(widget.locator(".status.conn")).to_be_hidden(timeout=30_000)
        expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"), timeout=30_000)
        expect(widget.locator(".msg.pending")).to_have_count(0)
        expect(workspace.locator("#messages .msg.pending")).to_have_count(0)
        # Each side sees the other's offline message: live, or fetched after reconnecting.
        expect(workspace.locator("#messages .msg .text")).to_have_text(
            ["第一条", "断线时发的", "我也在断线时回复"]
            if _visitor_first(shop)
            else ["第一条", "我也在断线时回复", "断线时发的"]
        )
        expect(widget.locator(".msg.theirs .bubble")).to_have_text(["我也在断线时回复"])
        opened = len(sockets)
        workspace.wait_for_timeout(6000)
        assert len(sockets) == opened and not sockets[-1].is_closed()
        expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"))
    finally:
        again.stop()
    seqs = list(Message.objects.filter(merchant=shop).order_by("seq").values_list("seq", "body"))
    # Seq 2 is the "joined" line of the agent's claim on opening the chat.
    assert [s for s, _ in seqs] == [1, 2, 3, 4]
    assert seqs[:2] == [(1, "第一条"), (2, "小美已加入会话。")]
    assert sorted(b for _, b in seqs[2:]) == sorted(["断线时发的", "我也在断线时回复"])


def _visitor_first(shop) -> bool:
    """Which resent message the server stored first depends on which socket came back first."""
    # Seq 2 is the "joined" line of the agent's claim; the two resent messages are 3 and 4.
    return Message.objects.get(merchant=shop, seq=3).sender_kind == "visitor"


def test_a_frozen_server_is_noticed_by_missing_pongs(daphne_server, new_page, tmp_path):
    """SIGSTOP leaves every TCP connection open but nothing answers: no close event ever
    comes, so only the unanswered pings can tell both front ends that the line is dead."""
    import signal

    from tests import factories
    from tests.conftest import free_port

    port = free_port()
    server = DaphneProcess(port, tmp_path / "frozen.log", child_env(WS_HEARTBEAT_TIMEOUT="3"))
    try:
        shop = factories.merchant("冻结测试", allowed_origins=server.url)
        factories.member(shop, "frozen", password="pw-frozen-agent-1")
        visitor, _ = new_page()
        visitor.goto(f"{server.url}/widget/demo/?key={shop.widget_key}")
        widget = visitor.locator("#kefu-widget")
        widget.locator(".launcher").click()
        expect(widget.locator(".status.conn")).to_be_hidden()
        workspace, _ = new_page()
        login(workspace, server.url, "frozen", "pw-frozen-agent-1")
        expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"))

        server.proc.send_signal(signal.SIGSTOP)
        try:
            # Pings every second (heartbeat 3 s), 10 s without an answer: reconnecting.
            expect(widget.locator(".status.conn")).to_be_visible(timeout=25_000)
            expect(workspace.locator("#conn")).to_have_class(
                re.compile("conn-reconnecting|conn-connecting"), timeout=25_000
            )
        finally:
            server.proc.send_signal(signal.SIGCONT)
        expect(widget.locator(".status.conn")).to_be_hidden(timeout=40_000)
        expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"), timeout=40_000)
    finally:
        server.stop()
