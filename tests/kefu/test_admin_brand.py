"""The back office speaks the product's language (issue 13, "First-minute bugs"): branded
墨中客服 / Mozhongkefu instead of "Django administration", Django's own "修改" for Change (our
catalogue once turned it into the language switch's "切换"), headings not shouted in capitals,
agents by the display name the merchant gave them, and a favicon on every page."""

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from conversations.models import RoutingEvent
from tests import factories

BRAND = {
    "zh-hans": ("墨中客服", "墨中客服后台", "修改", "Django 管理"),
    "en": ("Mozhongkefu", "Mozhongkefu back office", "Change", "Django administration"),
}


def signed_in(user, language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_admin_is_branded_and_uses_django_words(alice, language):
    header, index_title, change, django_name = BRAND[language]
    html = signed_in(alice.user, language).get(reverse("admin:index")).content.decode()
    assert f'<div id="site-name"><a href="/admin/">{header}</a></div>' in html
    assert f"<title>{index_title} | {header}</title>" in html
    assert django_name not in html
    assert f">{change}</a>" in html
    assert ">切换</a>" not in html
    assert 'rel="icon"' in html and "brand/favicon.svg" in html
    assert "brand/admin.css" in html


def test_admin_headings_are_not_upper_cased():
    css = open(finders.find("brand/admin.css")).read()
    assert "thead th" in css and "text-transform: none" in css


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_language_switch_is_not_called_change(alice, language):
    html = signed_in(alice.user, language).get("/accounts/login/").content.decode()
    assert ("切换" if language == "zh-hans" else ">Switch</button>") in html


def test_agents_are_shown_by_display_name(acme, alice, bob, charlie):
    bob.display_name = "小白"
    bob.save()
    visitor = factories.visitor(acme, name="张三")
    conversation = factories.visitor_message(visitor, "在吗").conversation
    # As the admin's transfer would leave it (the path is services.assignment's, not tested here).
    conversation.assignee_id = bob.user_id
    conversation.save(update_fields=["assignee"])
    RoutingEvent.objects.create(
        merchant=acme,
        conversation=conversation,
        kind=RoutingEvent.Kind.TRANSFERRED,
        from_user=alice.user,
        to_user=bob.user,
        actor=alice.user,
    )
    client = signed_in(alice.user, "en")
    html = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert "小白" in html and ">bob<" not in html
    html = client.get(reverse("admin:conversations_routingevent_changelist")).content.decode()
    assert "小白" in html and "Alice 客服" in html and ">bob<" not in html
    # The outsider sees none of it.
    html = (
        signed_in(charlie.user, "en")
        .get(reverse("admin:conversations_conversation_changelist"))
        .content.decode()
    )
    assert "小白" not in html and "张三" not in html


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("brand/favicon.svg")
    assert finders.find("brand/favicon.svg")
