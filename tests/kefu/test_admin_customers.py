"""The back office's customer pages (issue 13): labels, custom attributes, the visitor filters
(blocked, custom attribute) and block actions, the conversation label column and filter. Each
shows a manager only their merchant's rows; charlie (owner of Other) meets nothing of Acme's."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.models import AttributeDefinition, Label, Visitor
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_rows(acme):
    label = Label.objects.create(merchant=acme, name="AcmeSecretLabel", colour="#dc2626")
    plan = AttributeDefinition.objects.create(
        merchant=acme, key="plan", name="AcmeSecretAttr", kind="choice", choices=["gold", "free"]
    )
    gold = factories.visitor(acme, name="GoldVisitor")
    Visitor.objects.filter(pk=gold.pk).update(attributes={"plan": "gold"})
    free = factories.visitor(acme, name="FreeVisitor")
    Visitor.objects.filter(pk=free.pk).update(attributes={"plan": "free"})
    conversation = factories.visitor_message(gold, "hi").conversation
    conversation.labels.add(label)
    return label, plan, gold, free


def url(name, *args):
    return reverse(f"admin:conversations_{name}", args=args)


def test_owner_sees_and_filters_her_customers(client, alice, acme_rows):
    label, plan, gold, free = acme_rows
    client.force_login(alice.user)
    labels = client.get(url("label_changelist")).content.decode()
    assert "AcmeSecretLabel" in labels and "#dc2626" in labels
    conversations = client.get(url("conversation_changelist")).content.decode()
    assert "AcmeSecretLabel" in conversations  # the column and the filter
    by_label = client.get(url("conversation_changelist"), {"labels__id__exact": label.pk})
    assert by_label.context["cl"].result_count == 1
    visitors = client.get(url("visitor_changelist"), {"attribute": f"{plan.pk}:gold"})
    assert [v.pk for v in visitors.context["cl"].result_list] == [gold.pk]
    assert "AcmeSecretAttr = gold" in visitors.content.decode()
    has_value = client.get(url("visitor_changelist"), {"attribute": f"{plan.pk}:"})
    assert {v.pk for v in has_value.context["cl"].result_list} == {gold.pk, free.pk}


def test_block_actions_and_blocked_filter(client, alice, acme_rows):
    _label, _plan, gold, free = acme_rows
    client.force_login(alice.user)
    client.post(
        url("visitor_changelist"), {"action": "block_visitors", "_selected_action": [gold.pk]}
    )
    blocked = Visitor.objects.get(pk=gold.pk)
    assert blocked.blocked_at is not None and blocked.blocked_by_id == alice.user_id
    listed = client.get(url("visitor_changelist"), {"blocked": "yes"})
    assert [v.pk for v in listed.context["cl"].result_list] == [gold.pk]
    client.post(
        url("visitor_changelist"), {"action": "unblock_visitors", "_selected_action": [gold.pk]}
    )
    assert Visitor.objects.get(pk=gold.pk).blocked_at is None


def test_label_form_checks_the_colour(client, alice, acme):
    client.force_login(alice.user)
    bad = client.post(url("label_add"), {"merchant": acme.pk, "name": "x", "colour": "red"})
    assert bad.status_code == 200 and not Label.objects.filter(name="x").exists()
    good = client.post(url("label_add"), {"merchant": acme.pk, "name": "x", "colour": "#ABCDEF"})
    assert good.status_code == 302 and Label.objects.get(name="x").colour == "#abcdef"


def test_attribute_form_checks_the_choices(client, alice, acme):
    client.force_login(alice.user)
    form = {"merchant": acme.pk, "key": "tier", "name": "Tier", "kind": "choice", "choices": "[]"}
    assert client.post(url("attributedefinition_add"), form).status_code == 200
    form["choices"] = '["a", "b"]'
    assert client.post(url("attributedefinition_add"), form).status_code == 302
    assert AttributeDefinition.objects.get(key="tier").choices == ["a", "b"]


def test_charlie_meets_nothing_of_acme(client, charlie, acme_rows):
    label, plan, gold, _free = acme_rows
    client.force_login(charlie.user)
    for name in (
        "label_changelist",
        "attributedefinition_changelist",
        "visitor_changelist",
        "conversation_changelist",
    ):
        html = client.get(url(name)).content.decode()
        for marker in ("AcmeSecretLabel", "AcmeSecretAttr", "GoldVisitor"):
            assert marker not in html, (name, marker)
    # Acme's rows are not there for him, and Acme's attribute is no filter of his.
    assert client.get(url("label_change", label.pk)).status_code == 302
    assert client.get(url("attributedefinition_change", plan.pk)).status_code == 302
    crafted = client.get(url("visitor_changelist"), {"attribute": f"{plan.pk}:gold"})
    assert crafted.status_code == 200 and crafted.context["cl"].result_count == 0
    client.post(
        url("visitor_changelist"), {"action": "block_visitors", "_selected_action": [gold.pk]}
    )
    assert Visitor.objects.get(pk=gold.pk).blocked_at is None
