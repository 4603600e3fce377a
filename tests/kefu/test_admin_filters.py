"""Every changelist filter, autocomplete and the Users list a merchant owner sees hold only
their merchant's rows (issue 16, finding 4; merchants/admin_scoping.py). Acme's rows carry
marker names; charlie (owner of Other) must meet none of them on any admin page, while his own
rows still appear in his filters."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from conversations.models import Conversation
from knowledge import services as kb_services
from merchants.models import Team
from tests import factories

MARKERS = ("AcmeSecretTeam", "AcmeSecretCategory", "AcmeSecretVisitor", "Bobagent", "alice")


@pytest.fixture
def two_merchants(acme, alice, bob, other, charlie):
    acme_team = Team.objects.create(merchant=acme, name="AcmeSecretTeam")
    other_team = Team.objects.create(merchant=other, name="OtherTeam")
    bob.display_name = "Bobagent"
    bob.save()
    bob.teams.add(acme_team)
    charlie.teams.add(other_team)
    kb_services.category_create(merchant_id=acme.pk, name="AcmeSecretCategory")
    kb_services.category_create(merchant_id=other.pk, name="OtherCategory")
    visitor = factories.visitor(acme, name="AcmeSecretVisitor")
    message = factories.visitor_message(visitor, "hi")
    Conversation.objects.filter(pk=message.conversation_id).update(
        team=acme_team, assignee=bob.user
    )
    outsider = factories.visitor(other, name="OtherVisitor")
    factories.visitor_message(outsider, "hello")
    return acme_team, other_team


def changelists():
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        yield model_admin, reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


@pytest.mark.django_db
def test_charlie_meets_nothing_of_acme_on_any_changelist(client, charlie, two_merchants):
    client.force_login(charlie.user)
    seen_filters = set()
    for _model_admin, url in changelists():
        try:
            response = client.get(url)
        except PermissionDenied:
            continue
        if response.status_code != 200:
            continue
        html = response.content.decode()
        for marker in MARKERS:
            assert marker not in html, (url, marker)
        try:
            specs = response.context["cl"].filter_specs
        except KeyError:  # a page of its own (no changelist): the HTML check above holds
            continue
        for spec in specs:
            choices = getattr(spec, "lookup_choices", None) or []
            labels = {str(label) for _pk, label in choices}
            seen_filters.add((url, spec.title, frozenset(labels)))
            assert not labels & set(MARKERS), (url, spec.title, labels)
    titles = {(url.split("/")[-2], labels) for url, _title, labels in seen_filters}
    # His own team is still offered where the Team filter is (conversations and memberships).
    assert ("conversation", frozenset({"OtherTeam"})) in titles
    assert ("membership", frozenset({"OtherTeam"})) in titles


@pytest.mark.django_db
def test_alice_filters_list_her_teams_only(client, alice, two_merchants):
    client.force_login(alice.user)
    for name in ("conversation", "membership"):
        app = "conversations" if name == "conversation" else "merchants"
        response = client.get(reverse(f"admin:{app}_{name}_changelist"))
        html = response.content.decode()
        assert "AcmeSecretTeam" in html and "OtherTeam" not in html, name


@pytest.mark.django_db
def test_every_autocomplete_is_scoped(client, charlie, two_merchants):
    client.force_login(charlie.user)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            search = reverse("admin:autocomplete") + (
                f"?app_label={model._meta.app_label}&model_name={model._meta.model_name}"
                f"&field_name={field_name}&term="
            )
            response = client.get(search)
            assert response.status_code in (200, 403), search
            if response.status_code == 200:
                checked += 1
                texts = " ".join(r["text"] for r in response.json()["results"])
                for marker in MARKERS:
                    assert marker not in texts, (search, marker)
    assert checked


@pytest.mark.django_db
def test_users_list_of_an_owner_holds_their_members_only(client, charlie, two_merchants):
    client.force_login(charlie.user)
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert {u.username for u in response.context["cl"].result_list} == {"charlie"}
    response = client.get(reverse("admin:accounts_user_changelist") + "?q=alice")
    assert list(response.context["cl"].result_list) == []
