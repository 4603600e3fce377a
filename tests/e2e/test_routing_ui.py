"""Routing as people see it: the visitor's place in the queue (live), the agents' queue panel
and claim (with the loser's clear error), the transfer dialog, resolve/reopen, the routing
timeline, notifications (sound, toast, mute), the leave-a-message form and the team choice.
Real daphne, real Chromium, one browser context per person; hostile names and notes throughout.

English pages (en-US) keep the assertions independent of the compiled Chinese catalogue."""

import re

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Message, RoutingEvent
from merchants.models import Membership, Team
from tests import factories

from .conftest import AGENT_PASSWORD, SocketGate, login, open_widget, wait_until, widget_say

pytestmark = [pytest.mark.browser, pytest.mark.live]

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
# Counts the tones the workspace makes (it has no sound file to watch for).
COUNT_BEEPS = """
window.__beeps = 0;
const original = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__beeps += 1; return original.call(this); };
"""


def no_xss(*pages) -> None:
    for page in pages:
        assert page.evaluate("window.__xss") is None
        expect(page.locator("img[src=x]")).to_have_count(0)


def name_visitor(page, shop, name: str) -> None:
    """Give the widget's visitor a name from the merchant's site (signed identity)."""
    anonymous_id = page.evaluate(f"localStorage.getItem('kefu:{shop.widget_key}:anon')")
    services.visitor_touch(
        merchant=shop, anonymous_id=anonymous_id, identity={"name": name, "email": ""}
    )


def timeline(page) -> list[str]:
    """The open conversation's timeline as kinds: message sender kinds and routing event kinds."""
    return page.locator("#messages > li").evaluate_all(
        "items => items.map(li => li.dataset.event ? 'event:' + li.className.match(/routing-(\\w+)$/)[1]"
        " : 'msg:' + li.className.match(/from-(\\w+)/)[1])"
    )


def test_queue_claim_transfer_resolve_and_notifications(
    daphne_server, shop, agent, new_page, screenshots
):
    base = daphne_server.url
    # Capacity 0: the router assigns nobody, so visitors wait in the queue until an agent claims.
    dawei = factories.member(shop, "dawei", password=AGENT_PASSWORD, display_name="大伟")
    Membership.objects.filter(merchant=shop).update(max_concurrent=0)

    first, first_watch = new_page("en-US")
    widget_a = open_widget(first, base, shop.widget_key)
    name_visitor(first, shop, IMG)
    widget_say(widget_a, "你好，在吗")
    place_a = widget_a.locator(".status-text")
    expect(place_a).to_have_text("You are next in line")

    second, second_watch = new_page("en-US")
    widget_b = open_widget(second, base, shop.widget_key)
    name_visitor(second, shop, "王先生")
    widget_say(widget_b, "我也要咨询")
    expect(widget_b.locator(".status-text")).to_have_text(
        re.compile(r"^Visitors ahead of you: 1, estimated wait \d+ min$")
    )
    expect(place_a).to_have_text("You are next in line")
    second.screenshot(path=str(screenshots / "widget-queue.png"))
    # A team to transfer to (made now: with teams, new visitors would be asked to pick one).
    Team.objects.create(merchant=shop, name="售后")

    workspace, agent_watch = new_page("en-US")
    workspace.add_init_script(COUNT_BEEPS)
    login(workspace, base, "xiaomei")
    entries = workspace.locator("#queue-list li")
    expect(entries.locator(".queue-name")).to_have_text([IMG, "王先生"])
    expect(entries.locator(".queue-pos")).to_have_text(["1", "2"])
    expect(workspace.locator("#queue-count")).to_have_text("2")
    # A queued conversation can be read before claiming it; the inbox marks it as queued.
    entries.filter(has_text="王先生").locator(".queue-name").click()
    expect(workspace.locator("#thread-title")).to_have_text("王先生")
    expect(workspace.locator("#thread-assignee")).to_have_text("Unassigned")
    expect(workspace.locator("#conv-list li.active .chip-queued")).to_have_text("Queued")

    # A colleague whose page misses the queue updates: its Claim button goes stale.
    colleague, colleague_watch = new_page("en-US")
    colleague.add_init_script(COUNT_BEEPS)
    gate = SocketGate(colleague.context, "/ws/agent/")
    login(colleague, base, "dawei")
    expect(colleague.locator("#queue-list li")).to_have_count(2)
    # The page's own queue request must be answered before the gate closes: a late answer would
    # show the fresh queue and leave no stale button to press (a race of a loaded machine).
    colleague.wait_for_load_state("networkidle")
    gate.drop = lambda frame: frame.get("type") == "queue.changed"

    # Claim: the conversation opens, the queue shrinks, the visitor behind moves up, live.
    entries.filter(has_text=IMG).locator("button.claim").click()
    expect(workspace.locator("#thread-title")).to_have_text(IMG)
    expect(workspace.locator("#thread-assignee")).to_have_text("Assigned to you")
    expect(entries.locator(".queue-name")).to_have_text(["王先生"])
    expect(workspace.locator("#queue-count")).to_have_text("1")
    expect(workspace.locator("#mine-count")).to_have_text("1")
    expect(widget_b.locator(".status-text")).to_have_text("You are next in line")
    # The claimed visitor's queue place gives way to the agent (one status line).
    expect(place_a).to_have_text("An agent is with you.")
    conversation = Conversation.objects.get(merchant=shop, visitor__name=IMG)
    assert conversation.assignee_id == agent.user_id

    # The routing decisions are in the timeline, in order, with the server's reason in the
    # agent's language (stored in the site's: tests/e2e/test_desk_language.py).
    expect(workspace.locator("#messages .routing-claimed .routing-reason")).to_have_text(
        "claimed by 小美"
    )
    assert RoutingEvent.objects.get(conversation=conversation, kind="claimed").reason == (
        "小美 领取了会话"
    )
    # The claim's reason, then the line the visitor saw ("小美 joined", a system line).
    assert timeline(workspace) == ["msg:visitor", "event:queued", "event:claimed", "msg:system"]

    # The colleague's stale Claim is refused, and says so where they clicked.
    colleague.locator("#queue-list li").filter(has_text=IMG).locator("button.claim").click()
    refusal = "Another agent already took this conversation."
    expect(colleague.locator("#queue-list li .queue-error")).to_have_text(refusal)
    expect(colleague.locator("#notice")).to_have_text(refusal)
    assert Conversation.objects.get(pk=conversation.pk).assignee_id == agent.user_id

    # Transfer to the colleague with a (hostile) note: agents with presence, and the teams.
    workspace.click("#thread-transfer")
    expect(workspace.locator("#transfer-dialog")).to_be_visible()
    expect(workspace.locator("#transfer-target option")).to_have_text(
        ["大伟 — Online", "售后 — 0 online"]
    )
    workspace.select_option("#transfer-target", label="大伟 — Online")
    workspace.fill("#transfer-note", IMG)
    workspace.screenshot(path=str(screenshots / "workspace-transfer.png"))
    workspace.click("#transfer-submit")
    expect(workspace.locator("#transfer-dialog")).to_be_hidden()
    expect(workspace.locator("#thread-assignee")).to_have_text("Assigned to 大伟")
    expect(workspace.locator("#mine-count")).to_have_text("0")
    expect(workspace.locator("#messages .msg.note .text")).to_have_text([IMG])
    expect(workspace.locator("#messages .routing-transferred .routing-kind")).to_have_text(
        "Transferred · 小美 → 大伟"
    )
    assert Conversation.objects.get(pk=conversation.pk).assignee_id == dawei.user_id

    # The colleague is told: a tone and (without notification permission) an in-page toast.
    toast = colleague.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(toast.locator(".toast-title")).to_contain_text(IMG)
    assert colleague.evaluate("window.__beeps") == 2  # two short tones
    toast.click()
    expect(colleague.locator("#thread-title")).to_have_text(IMG)
    expect(colleague.locator("#thread-assignee")).to_have_text("Assigned to you")

    # Muted in this browser: the transfer back is shown, silently.
    workspace.check("#notify-mute")
    assert workspace.evaluate("localStorage.getItem('kefu:notify-mute')") == "1"
    colleague.click("#thread-transfer")
    colleague.select_option("#transfer-target", label="小美 — Online")
    colleague.click("#transfer-submit")
    expect(workspace.locator("#toasts .toast")).to_have_count(1)
    expect(workspace.locator("#thread-assignee")).to_have_text("Assigned to you")
    assert workspace.evaluate("window.__beeps") == 0

    # Resolve, then reopen, from the header.
    expect(workspace.locator("#thread-resolve")).to_have_text("Resolve")
    workspace.click("#thread-resolve")
    expect(workspace.locator("#thread-status")).to_have_text("Resolved")
    expect(workspace.locator("#thread-resolve")).to_have_text("Reopen")
    expect(workspace.locator("#thread-transfer")).to_be_disabled()
    expect(workspace.locator("#messages .routing-resolved")).to_have_count(1)
    assert Conversation.objects.get(pk=conversation.pk).status == "resolved"
    workspace.click("#thread-resolve")
    expect(workspace.locator("#thread-status")).to_have_text("Open")
    expect(workspace.locator("#messages .routing-reopened")).to_have_count(1)

    # A reload shows the same timeline from the REST history.
    workspace.reload()
    expect(workspace.locator("#thread-loading")).to_be_hidden()
    expect(workspace.locator("#messages .routing-event")).to_have_count(
        RoutingEvent.objects.filter(conversation=conversation).count()
    )

    workspace.screenshot(path=str(screenshots / "workspace-routing.png"))
    no_xss(first, second, workspace, colleague)
    for watch in (first_watch, second_watch, agent_watch, colleague_watch):
        assert not watch.errors


def test_an_angry_visitor_is_served_first_and_marked(daphne_server, shop, agent, new_page):
    base = daphne_server.url
    Membership.objects.filter(merchant=shop).update(max_concurrent=0)  # everyone waits
    calm, calm_watch = new_page("en-US")
    calm_widget = open_widget(calm, base, shop.widget_key)
    name_visitor(calm, shop, "李女士")
    widget_say(calm_widget, "你好，在吗")
    expect(calm_widget.locator(".status-text")).to_have_text("You are next in line")

    workspace, agent_watch = new_page("en-US")
    login(workspace, base, "xiaomei")
    entries = workspace.locator("#queue-list li")
    expect(entries.locator(".queue-name")).to_have_text(["李女士"])

    angry, angry_watch = new_page("en-US")
    angry_widget = open_widget(angry, base, shop.widget_key)
    name_visitor(angry, shop, "赵先生")
    widget_say(angry_widget, "垃圾服务，气死我了，我要投诉！")
    # Strongly negative: served first, marked in the queue; the calm visitor moves back, live.
    expect(entries.locator(".queue-name")).to_have_text(["赵先生", "李女士"])
    expect(entries.first).to_have_class(re.compile(r"\bpriority\b"))
    expect(entries.first.locator(".priority-mark")).to_have_count(1)
    expect(entries.last.locator(".priority-mark")).to_have_count(0)
    expect(angry_widget.locator(".status-text")).to_have_text("You are next in line")
    expect(calm_widget.locator(".status-text")).to_have_text(
        re.compile(r"^Visitors ahead of you: 1, estimated wait \d+ min$")
    )
    assert not calm_watch.errors and not agent_watch.errors and not angry_watch.errors


def test_leave_a_message_outside_hours(daphne_server, shop, agent, new_page, screenshots):
    base = daphne_server.url
    # Business hours on and no opening hours: closed, so the form comes first.
    shop.business_hours_enabled = True
    shop.save(update_fields=["business_hours_enabled"])
    visitor, watch = new_page("en-US")
    widget = open_widget(visitor, base, shop.widget_key)
    form = widget.locator(".offline")
    expect(form).to_be_visible()
    expect(form.locator(".intro")).to_have_text(
        "We are closed right now. Leave a message and we will get back to you."
    )
    expect(widget.locator("form:not(.offline-fields) textarea")).to_be_hidden()

    # Empty: every field says what is wrong, nothing is stored.
    form.locator("button.submit").click()
    errors = form.locator(".ferr:not(.general)")
    expect(errors).to_have_count(3)
    for error in errors.all():
        expect(error).to_be_visible()
        expect(error).not_to_be_empty()
    expect(form.locator("input[name=name]")).to_have_class(re.compile(r"\binvalid\b"))

    # A hostile name, a contact that is neither an email nor a phone number.
    form.locator("input[name=name]").fill(IMG)
    form.locator("input[name=contact]").fill("not a contact")
    form.locator("textarea[name=message]").fill(SCRIPT)
    form.locator("button.submit").click()
    contact_error = form.locator("input[name=contact] + .ferr")
    expect(contact_error).to_have_text("Give an email address or a phone number.")
    expect(form.locator("input[name=name] + .ferr")).to_be_hidden()
    assert not Conversation.objects.filter(merchant=shop).exists()

    form.locator("input[name=contact]").fill("wang@example.com")
    form.locator("button.submit").click()
    done = form.locator(".done")
    expect(done).to_contain_text("wang@example.com")
    expect(form.locator(".offline-fields")).to_be_hidden()
    expect(widget.locator(".status-text")).to_be_hidden()  # the form's answer says what happens
    conversation = Conversation.objects.get(merchant=shop)
    assert conversation.source == "offline_form"
    assert Message.objects.get(conversation=conversation).body == SCRIPT
    visitor.screenshot(path=str(screenshots / "widget-offline.png"))

    # Back to the chat: the message left is there as the visitor's own.
    form.locator("button.to-chat").click()
    expect(widget.locator(".msg.mine .bubble")).to_have_text([SCRIPT])

    # The agent sees it like any queued chat, names as text.
    workspace, agent_watch = new_page("en-US")
    login(workspace, base, "xiaomei")
    expect(workspace.locator("#conv-list li .conv-name")).to_have_text([IMG])
    expect(workspace.locator("#conv-list li .chip-offline")).to_have_text("Left a message")
    no_xss(visitor, workspace)
    assert not watch.errors and not agent_watch.errors


def test_team_choice_before_the_first_message(daphne_server, shop, agent, new_page):
    base = daphne_server.url
    presale = Team.objects.create(merchant=shop, name="售前")
    aftersales = Team.objects.create(merchant=shop, name="售后")

    visitor, watch = new_page("en-US")
    widget = open_widget(visitor, base, shop.widget_key)
    chooser = widget.locator(".teams")
    expect(chooser.locator("button.team")).to_have_text(["售前", "售后"])
    # Writing before choosing: the choice is asked for, nothing is sent.
    widget_say(widget, "退货怎么办")
    expect(chooser).to_have_class(re.compile(r"\battention\b"))
    expect(chooser.locator(".label")).to_have_text("Please choose a topic first.")
    expect(widget.locator(".msg.mine")).to_have_count(0)
    chooser.locator("button.team", has_text="售后").click()
    widget.locator("textarea").press("Enter")
    expect(widget.locator(".msg.mine:not(.pending) .bubble")).to_have_text(["退货怎么办"])
    expect(chooser).to_be_hidden()
    assert Conversation.objects.get(merchant=shop).team_id == aftersales.pk

    # The embed's data-team: no choice shown, the conversation goes to that team.
    other, other_watch = new_page("en-US")
    other.goto(f"{base}/widget/demo/?key={shop.widget_key}&team={presale.pk}")
    other_widget = other.locator("#kefu-widget")
    other_widget.locator(".launcher").click()
    expect(other_widget.locator(".panel")).to_be_visible()
    expect(other_widget.locator(".teams")).to_be_hidden()
    widget_say(other_widget, "有优惠吗")
    expect(other_widget.locator(".msg.mine:not(.pending)")).to_have_count(1)
    assert Conversation.objects.exclude(team=aftersales).get(merchant=shop).team_id == presale.pk

    # A returning visitor with a conversation is not asked again.
    visitor.reload()  # the panel stays open across reloads
    expect(widget.locator(".msg.mine .bubble")).to_have_text(["退货怎么办"])
    expect(widget.locator(".teams")).to_be_hidden()
    assert not watch.errors and not other_watch.errors


# The page is in a background tab (visibilityState "hidden") and the browser's Notification is
# recorded as it is called (it still runs: Chromium has notifications permission here).
HIDDEN_TAB = """
Object.defineProperty(Document.prototype, "visibilityState", { get: () => "hidden" });
window.__shown = [];
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) { super(title, options); window.__shown.push({ title, body: options.body, tag: options.tag }); }
};
"""


def test_browser_notification_in_a_background_tab(daphne_server, shop, agent, new_page):
    base = daphne_server.url
    workspace, agent_watch = new_page("en-US")
    workspace.context.grant_permissions(["notifications"], origin=base)
    workspace.add_init_script(HIDDEN_TAB)
    login(workspace, base, "xiaomei")
    expect(workspace.locator("#conn")).to_have_class(re.compile(r"conn-online"))
    # Permission already given: nothing to ask for.
    expect(workspace.locator("#notify-enable")).to_be_hidden()

    visitor, watch = new_page("en-US")
    widget = open_widget(visitor, base, shop.widget_key)
    name_visitor(visitor, shop, SCRIPT)
    widget_say(widget, IMG)
    # The router gives the new conversation to the only agent online, who is told so.
    wait_until(workspace, "window.__shown.length === 1")
    shown = workspace.evaluate("window.__shown[0]")
    conversation = Conversation.objects.get(merchant=shop)
    assert conversation.assignee_id == agent.user_id
    assert SCRIPT in shown["title"] and shown["body"] == IMG
    assert shown["tag"] == f"kefu-{shop.pk}-{conversation.pk}"
    expect(workspace.locator("#toasts .toast")).to_have_count(0)  # no toast as well
    no_xss(visitor, workspace)
    assert not agent_watch.errors and not watch.errors


def test_every_widget_string_is_translatable():
    """The widget's English fallbacks (state.js) are only for an older server: each of its keys must come
    translated from the bootstrap (widget_strings), with the same placeholders."""
    from pathlib import Path

    from django.utils import translation

    from widget.views import widget_strings

    source = (Path(__file__).resolve().parents[2] / "widget/static/widget/state.js").read_text()
    block = re.search(r"const DEFAULT_STRINGS = \{(.*?)\n  \};", source, re.S).group(1)
    defaults = dict(re.findall(r'^\s+(\w+): "(.*)",$', block, re.M))
    assert len(defaults) >= 15
    with translation.override("en"):
        served = widget_strings()
    for key, english in defaults.items():
        assert served.get(key) == english, key
