"""Two daphne processes sharing Redis (the channel layer and presence) and the database: the
visitor's page talks to process A, the agent's workspace to process B. Everything live crosses
between them through Redis; when B restarts mid-conversation the agent catches up with
`resume` from the database and sees every message exactly once, in order."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from merchants.models import Membership
from tests import factories
from tests.conftest import DaphneProcess, child_env, free_port, redis_url

from .conftest import AGENT_PASSWORD, agent_say, login, open_row, open_widget, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.redis]


def test_visitor_on_a_agent_on_b_and_b_restarts(daphne_server, new_page, tmp_path, screenshots):
    redis_url()  # skips (or fails under KEFU_REQUIRE_SERVICES=1) without a reachable Redis
    a = daphne_server
    b_port = free_port()
    processes = []

    def start_b(log_name: str) -> DaphneProcess:
        processes.append(DaphneProcess(b_port, tmp_path / log_name, child_env()))
        return processes[-1]

    try:
        _chat_across_processes(a, start_b, new_page, screenshots)
    finally:
        for process in processes:
            process.stop()


def _chat_across_processes(a, start_b, new_page, screenshots):
    b = start_b("daphne-b.log")
    shop = factories.merchant("双进程商城", allowed_origins=f"{a.url}\n{b.url}")
    factories.member(
        shop, "xiaomei", Membership.Role.AGENT, password=AGENT_PASSWORD, display_name="小美"
    )
    visitor_sent: list[str] = []
    agent_sent: list[str] = []

    def visitor_says(text):
        widget_say(widget, text)
        visitor_sent.append(text)

    def agent_says(text):
        agent_say(workspace, text)
        agent_sent.append(text)

    visitor, visitor_watch = new_page()
    widget = open_widget(visitor, a.url, shop.widget_key)
    visitor_says("A进程的访客：你好")
    expect(widget.locator(".msg.mine")).not_to_have_class(re.compile("pending"))

    workspace, agent_watch = new_page()
    login(workspace, b.url, "xiaomei")
    row = open_row(workspace)
    shown = workspace.locator("#messages .msg:not(.pending) .text")
    expect(shown).to_have_text(visitor_sent)

    # Typing and read state cross from A to B and back through Redis.
    widget.locator("textarea").press_sequentially("正在写的草稿", delay=30)
    expect(workspace.locator("#visitor-draft")).to_have_text("正在写的草稿")
    widget.locator("textarea").fill("")
    widget.locator("textarea").dispatch_event("input")
    expect(workspace.locator("#visitor-typing")).to_be_hidden()
    workspace.locator("#reply-body").press_sequentially("B进程的客服", delay=30)
    expect(widget.locator(".typing")).to_be_visible()
    workspace.press("#reply-body", "Enter")
    agent_sent.append("B进程的客服")
    expect(widget.locator(".msg.theirs .bubble")).to_have_text(agent_sent)
    expect(widget.locator(".msg.mine.read")).to_have_count(1)  # the agent has it open: read
    expect(workspace.locator("#messages .msg.from-agent .tick")).to_have_count(1)
    expect(workspace.locator("#v-online .dot-online")).to_have_count(1)

    # The visitor keeps writing while the agent's process goes away and comes back.
    visitor_says("重启前 1")
    visitor_says("重启前 2")
    b.stop()
    expect(workspace.locator("#conn")).to_have_class(re.compile("conn-reconnecting"))
    for n in range(1, 4):
        visitor_says(f"B停机时 {n}")
        visitor.wait_for_timeout(200)
    agent_says("客服断线时写的")
    expect(workspace.locator("#messages .msg.pending")).to_have_count(1)
    b = start_b("daphne-b-again.log")
    # Right after the restart, racing the agent's reconnect and resume.
    visitor_says("B重启后 1")
    visitor_says("B重启后 2")
    expect(workspace.locator("#conn")).to_have_class(re.compile("conn-online"), timeout=30_000)
    visitor_says("重连之后")
    expect(widget.locator(".msg.mine.pending")).to_have_count(0)
    expect(workspace.locator("#messages .msg.pending")).to_have_count(0)

    conversation = Conversation.objects.get(merchant=shop)
    stored = list(conversation.messages.order_by("seq").values_list("seq", "kind", "body"))
    # sent = stored: each message exactly once, gapless seqs, each side's order kept.
    assert [s for s, _, _ in stored] == list(range(1, len(stored) + 1))
    # One system line: the agent's claim on opening the chat, right after the first message.
    lines = [(s, body) for s, kind, body in stored if kind == Message.Kind.EVENT]
    assert lines == [(2, "小美已加入会话。")]
    bodies = [body for _, kind, body in stored if kind != Message.Kind.EVENT]
    assert sorted(bodies) == sorted(visitor_sent + agent_sent)
    assert [x for x in bodies if x in visitor_sent] == visitor_sent
    assert [x for x in bodies if x in agent_sent] == agent_sent
    # stored = shown, on both sides, in seq order and once.
    expect(shown).to_have_text(bodies)
    expect(widget.locator(".msg:not(.welcome) .bubble")).to_have_text(bodies)

    # After the restart typing and read state still cross between the processes.
    widget.locator("textarea").press_sequentially("还有一个问题", delay=30)
    expect(workspace.locator("#visitor-draft")).to_have_text("还有一个问题")
    expect(widget.locator(".msg.mine:not(.read)")).to_have_count(0)
    expect(row.locator(".badge")).to_have_count(0)
    workspace.screenshot(path=str(screenshots / "workspace-two-processes.png"))
    conversation.refresh_from_db()
    assert conversation.unread_agent_count == 0
    assert Message.objects.filter(merchant=shop).count() == len(visitor_sent + agent_sent) + 1
    assert not visitor_watch.errors and not agent_watch.errors
