"""The back office is tenant-scoped: alice (owner of Acme) runs Acme's rows only, charlie
(owner of Other) is the outsider, bob (agent of Acme) gets no access, root sees everything."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from conversations.models import CannedResponse, Conversation, Message, Visitor
from merchants.models import ApiToken, Membership, Merchant, hash_token
from tests import factories

User = get_user_model()

TENANT_MODELS = [
    ("merchants", "membership", Membership),
    ("merchants", "apitoken", ApiToken),
    ("conversations", "visitor", Visitor),
    ("conversations", "conversation", Conversation),
    ("conversations", "message", Message),
    ("conversations", "cannedresponse", CannedResponse),
]
ALL_MODELS = [(a, m) for a, m, _ in TENANT_MODELS] + [
    ("merchants", "merchant"),
    ("accounts", "user"),
]


# The merchant form's routing, hours, notification and bot fields (issue 4) at their defaults,
# and the empty business-hours / holiday inlines of the change page.
MERCHANT_DEFAULTS = {
    "routing_method": "least_busy",
    "sticky_agent": "on",
    "accept_timeout_seconds": 60,
    "max_reassignments": 2,
    "auto_resolve_minutes": 30,
    "offline_form_enabled": "on",
    "escalation_delay_seconds": 120,
    "wait_warn_seconds": 120,
    "wait_alert_seconds": 300,
    "bot_mode": "off",
    "bot_name": "",
    "retention_action": "anonymise",
    "attachment_max_mb": 10,
    "attachment_types": "image,pdf,office,text,archive",
    "rating_scale": "stars",
    "prechat_name": "off",
    "prechat_email": "off",
    "prechat_phone": "off",
    "prechat_custom": "",
}
MERCHANT_INLINES = {
    f"{prefix}-{key}": value
    for prefix in ("business_hours", "holidays")
    for key, value in (
        ("TOTAL_FORMS", 0),
        ("INITIAL_FORMS", 0),
        ("MIN_NUM_FORMS", 0),
        ("MAX_NUM_FORMS", 1000),
    )
}


def url(app, model, view="changelist", *args):
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def listed(client, app, model):
    response = client.get(url(app, model))
    assert response.status_code == 200, (app, model, response.status_code)
    return list(response.context["cl"].result_list)


def logged_in(client, membership_or_user):
    user = getattr(membership_or_user, "user", membership_or_user)
    client.force_login(user)
    return client


def add_form_fields(client, app, model):
    response = client.get(url(app, model, "add"))
    assert response.status_code == 200
    return response.context["adminform"].form.fields


# --- What each user sees --------------------------------------------------------------------


@pytest.mark.django_db
def test_alice_lists_only_acme_rows(client, acme, alice, acme_data, other_data):
    logged_in(client, alice)
    for app, model, _cls in TENANT_MODELS:
        rows = listed(client, app, model)
        assert rows, f"alice sees no {model}"
        assert {row.merchant_id for row in rows} == {acme.pk}, model
    assert [m.pk for m in listed(client, "merchants", "merchant")] == [acme.pk]
    assert {u.username for u in listed(client, "accounts", "user")} == {"alice", "bob"}
    # The merchant filter would list every merchant's name; a one-merchant manager gets none.
    response = client.get(url("conversations", "conversation"))
    assert "Other Shop" not in response.content.decode()


@pytest.mark.django_db
def test_charlie_lists_only_other_rows(client, other, charlie, acme_data, other_data):
    logged_in(client, charlie)
    for app, model, _cls in TENANT_MODELS:
        assert {row.merchant_id for row in listed(client, app, model)} == {other.pk}, model
    assert {u.username for u in listed(client, "accounts", "user")} == {"charlie"}


@pytest.mark.django_db
def test_superuser_sees_every_merchant(client, root, acme, other, acme_data, other_data):
    logged_in(client, root)
    for app, model, _cls in TENANT_MODELS:
        assert {row.merchant_id for row in listed(client, app, model)} == {acme.pk, other.pk}, model
    assert {m.pk for m in listed(client, "merchants", "merchant")} == {acme.pk, other.pk}
    assert {"root", "alice", "bob", "charlie"} <= {
        u.username for u in listed(client, "accounts", "user")
    }
    response = client.get(
        url("conversations", "conversation", "change", other_data["conversation"].pk)
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_agent_staff_user_gets_no_access(client, acme, bob, acme_data):
    bob.user.is_staff = True
    bob.user.save()
    logged_in(client, bob)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert index.context["app_list"] == []
    conversation = acme_data["conversation"]
    for app, model in ALL_MODELS:
        assert client.get(url(app, model)).status_code == 403, model
        assert client.get(url(app, model, "add")).status_code == 403, model
    for path in (
        url("conversations", "conversation", "change", conversation.pk),
        url("conversations", "visitor", "change", acme_data["visitor"].pk),
        url("merchants", "merchant", "change", acme.pk),
        url("accounts", "user", "change", bob.user.pk),
    ):
        assert client.get(path).status_code in (302, 403)
        assert client.post(path, {"name": "x", "status": "closed"}).status_code in (302, 403)
    search = reverse("admin:autocomplete") + (
        "?app_label=conversations&model_name=conversation&field_name=visitor&term="
    )
    assert client.get(search).status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN


@pytest.mark.django_db
def test_non_staff_member_is_sent_to_login(client, acme, bob):
    logged_in(client, bob)  # bob is not staff here
    response = client.get(url("conversations", "conversation"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Other merchants' rows by URL -----------------------------------------------------------


@pytest.mark.django_db
def test_alice_cannot_open_charlie_rows_by_url(client, alice, other, charlie, other_data):
    logged_in(client, alice)
    rows = {
        ("merchants", "merchant"): other.pk,
        ("merchants", "membership"): charlie.pk,
        ("merchants", "apitoken"): ApiToken.objects.get(merchant=other).pk,
        ("accounts", "user"): charlie.user.pk,
        ("conversations", "visitor"): other_data["visitor"].pk,
        ("conversations", "conversation"): other_data["conversation"].pk,
        ("conversations", "message"): other_data["message"].pk,
        ("conversations", "cannedresponse"): CannedResponse.objects.get(merchant=other).pk,
    }
    for (app, model), pk in rows.items():
        for view in ("change", "history", "delete"):
            response = client.get(url(app, model, view, pk))
            # The admin's "does not exist" answer: a redirect to the index (or a 403 where the
            # model offers the manager no such view at all), never the page.
            assert response.status_code in (302, 403, 404), (model, view, response.status_code)
            if response.status_code == 302:
                assert response["Location"] == reverse("admin:index"), (model, view)
    assert (
        client.get(reverse("admin:auth_user_password_change", args=[charlie.user.pk])).status_code
        == 404
    )
    # Deleting by POST does nothing either.
    client.post(
        url("conversations", "visitor", "delete", other_data["visitor"].pk), {"post": "yes"}
    )
    client.post(url("merchants", "merchant", "delete", other.pk), {"post": "yes"})
    assert Visitor.objects.filter(pk=other_data["visitor"].pk).exists()
    assert Merchant.objects.filter(pk=other.pk).exists()
    # Changing by POST does nothing either.
    client.post(url("merchants", "merchant", "change", other.pk), {"name": "pwned"})
    other.refresh_from_db()
    assert other.name == "Other Shop"


# --- Choices and forced merchant ------------------------------------------------------------


@pytest.mark.django_db
def test_foreign_key_choices_are_limited_to_acme(client, acme, alice, bob, acme_data, other_data):
    logged_in(client, alice)
    fields = add_form_fields(client, "conversations", "conversation")
    assert list(fields["visitor"].queryset) == [acme_data["visitor"]]
    assert set(fields["assignee"].queryset) == {alice.user, bob.user}
    assert fields["merchant"].disabled and fields["merchant"].widget.is_hidden
    fields = add_form_fields(client, "merchants", "membership")
    assert set(fields["user"].queryset) == {alice.user, bob.user}


@pytest.mark.django_db
def test_visitor_search_finds_only_acme_visitors(client, acme, alice, acme_data, other_data):
    logged_in(client, alice)
    search = reverse("admin:autocomplete") + (
        "?app_label=conversations&model_name=conversation&field_name=visitor&term="
    )
    found = {int(r["id"]) for r in client.get(search).json()["results"]}
    assert found == {acme_data["visitor"].pk}
    assert client.get(search + "Outsider").json()["results"] == []


@pytest.mark.django_db
def test_crafted_post_with_foreign_visitor_is_a_form_error(
    client, acme, alice, acme_data, other_data
):
    logged_in(client, alice)
    before = Conversation.objects.count()
    response = client.post(
        url("conversations", "conversation", "add"),
        {
            "merchant": other_data["visitor"].merchant_id,
            "visitor": other_data["visitor"].pk,
            "status": "open",
            "assignee": "",
            "_save": "1",
        },
    )
    assert response.status_code == 200
    assert "visitor" in response.context["adminform"].form.errors
    assert Conversation.objects.count() == before


@pytest.mark.django_db
def test_crafted_post_with_foreign_assignee_is_a_form_error(client, alice, charlie, acme_data):
    logged_in(client, alice)
    conversation = acme_data["conversation"]
    conversation.refresh_from_db()
    before = (conversation.assignee_id, conversation.status)
    response = client.post(
        url("conversations", "conversation", "change", conversation.pk),
        {"status": "pending", "assignee": charlie.user.pk, "_save": "1"},
    )
    assert response.status_code == 200
    assert "assignee" in response.context["adminform"].form.errors
    conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.status) == before
    assert before[0] != charlie.user.pk


@pytest.mark.django_db
def test_crafted_membership_for_outsider_is_a_form_error(client, acme, alice, charlie):
    logged_in(client, alice)
    response = client.post(
        url("merchants", "membership", "add"),
        {
            "user": charlie.user.pk,
            "role": "owner",
            "display_name": "Charlie",
            "max_concurrent": 5,
            "is_active": "on",
            "_save": "1",
        },
    )
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(merchant=acme, user=charlie.user).exists()


@pytest.mark.django_db
def test_merchant_is_forced_on_save(client, acme, other, alice):
    logged_in(client, alice)
    response = client.post(
        url("conversations", "cannedresponse", "add"),
        {"merchant": other.pk, "shortcut": "bye", "text": "再见", "_save": "1"},
    )
    assert response.status_code == 302
    assert CannedResponse.objects.get(shortcut="bye").merchant_id == acme.pk
    # The hidden merchant still takes part in the (merchant, shortcut) uniqueness check:
    # a duplicate is a form error, not a database error.
    response = client.post(
        url("conversations", "cannedresponse", "add"),
        {"shortcut": "bye", "text": "again", "_save": "1"},
    )
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert CannedResponse.objects.filter(shortcut="bye").count() == 1


@pytest.mark.django_db
def test_manager_of_two_merchants_chooses_and_cannot_mix_them(
    client, acme, other, alice, acme_data
):
    beta = factories.merchant("Beta")
    factories.member(beta, "alice", Membership.Role.ADMIN, password=None)
    beta_visitor = factories.visitor(beta, name="Beta visitor")
    logged_in(client, alice)
    fields = add_form_fields(client, "conversations", "conversation")
    assert set(fields["merchant"].queryset) == {acme, beta}
    assert not fields["merchant"].disabled
    # Both merchants are alice's, but a conversation of Acme cannot belong to Beta's visitor.
    response = client.post(
        url("conversations", "conversation", "add"),
        {"merchant": acme.pk, "visitor": beta_visitor.pk, "status": "open", "_save": "1"},
    )
    assert "visitor" in response.context["adminform"].form.errors
    response = client.post(
        url("conversations", "conversation", "add"),
        {"merchant": other.pk, "visitor": acme_data["visitor"].pk, "status": "open", "_save": "1"},
    )
    assert "merchant" in response.context["adminform"].form.errors
    response = client.post(
        url("conversations", "conversation", "add"),
        {"merchant": beta.pk, "visitor": beta_visitor.pk, "status": "open", "_save": "1"},
    )
    assert response.status_code == 302
    assert Conversation.objects.get(visitor=beta_visitor).merchant_id == beta.pk


# --- Merchant, API token, user, message specifics -------------------------------------------


@pytest.mark.django_db
def test_manager_edits_own_merchant_but_cannot_create_or_delete(client, settings, acme, alice):
    settings.PUBLIC_URL = "https://kefu.example.com"
    logged_in(client, alice)
    change = url("merchants", "merchant", "change", acme.pk)
    page = client.get(change).content.decode()
    snippet = (
        f"&lt;script src=&quot;https://kefu.example.com/widget/loader.js&quot; "
        f"data-merchant=&quot;{acme.widget_key}&quot; async&gt;&lt;/script&gt;"
    )
    assert snippet in page
    response = client.post(
        change,
        {
            "name": "Acme 新名字",
            "is_active": "",
            "allowed_origins": "https://shop.example.com",
            "welcome_message": "欢迎",
            "timezone": "Asia/Shanghai",
            "_save": "1",
            **MERCHANT_DEFAULTS,
            **MERCHANT_INLINES,
        },
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.name == "Acme 新名字" and acme.welcome_message == "欢迎"
    assert acme.is_active  # only the operator switches a merchant off
    assert client.get(url("merchants", "merchant", "add")).status_code == 403
    assert client.post(url("merchants", "merchant", "add"), {"name": "Mine"}).status_code == 403
    assert client.get(url("merchants", "merchant", "delete", acme.pk)).status_code == 403
    client.post(url("merchants", "merchant", "delete", acme.pk), {"post": "yes"})
    assert Merchant.objects.filter(pk=acme.pk).exists()
    assert not Merchant.objects.filter(name="Mine").exists()


@pytest.mark.django_db
def test_superuser_creates_merchants(client, root):
    logged_in(client, root)
    response = client.post(
        url("merchants", "merchant", "add"),
        {
            "name": "New shop",
            "is_active": "on",
            "allowed_origins": "",
            "welcome_message": "",
            "timezone": "Asia/Shanghai",
            "_save": "1",
            **MERCHANT_DEFAULTS,
        },
    )
    assert response.status_code == 302
    assert Merchant.objects.filter(name="New shop").exists()


@pytest.mark.django_db
def test_api_token_key_is_shown_once_and_only_its_hash_is_stored(client, acme, alice):
    logged_in(client, alice)
    response = client.post(
        url("merchants", "apitoken", "add"),
        {"name": "erp", "scope": "read_write", "is_active": "on", "_save": "1"},
        follow=True,
    )
    token = ApiToken.objects.get(name="erp")
    assert token.merchant_id == acme.pk
    shown = [str(m) for m in response.context["messages"]]
    keys = [word for m in shown for word in m.split() if word.startswith(ApiToken.PREFIX)]
    assert len(keys) == 1
    raw = keys[0]
    assert token.digest == hash_token(raw) and token.prefix == raw[:10]
    # The key works as an API credential; a wrong one does not.
    assert (
        Client().get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code
        == 200
    )
    assert (
        Client().get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {raw}x").status_code
        == 401
    )
    # Never again: not on the list, not on the change page, and the digest nowhere.
    for path in (url("merchants", "apitoken"), url("merchants", "apitoken", "change", token.pk)):
        page = client.get(path).content.decode()
        assert raw not in page and token.digest not in page


@pytest.mark.django_db
def test_manager_adds_an_agent_into_their_merchant(client, acme, other, alice):
    logged_in(client, alice)
    fields = add_form_fields(client, "accounts", "user")
    assert list(fields["merchant"].queryset) == [acme] and fields["merchant"].required
    base = {
        "username": "dave",
        "usable_password": "true",
        "password1": "Kefu-pass-9321",
        "password2": "Kefu-pass-9321",
        "role": "agent",
        "_save": "1",
    }
    response = client.post(url("accounts", "user", "add"), dict(base, merchant=other.pk))
    assert "merchant" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="dave").exists()
    response = client.post(url("accounts", "user", "add"), dict(base, merchant=acme.pk))
    assert response.status_code == 302
    dave = User.objects.get(username="dave")
    membership = Membership.objects.get(user=dave)
    assert membership.merchant_id == acme.pk and membership.role == Membership.Role.AGENT
    assert not dave.is_superuser and dave.check_password("Kefu-pass-9321")
    assert client.get(url("accounts", "user", "change", dave.pk)).status_code == 200


@pytest.mark.django_db
def test_manager_cannot_grant_superuser(client, alice, bob):
    logged_in(client, alice)
    change = url("accounts", "user", "change", bob.user.pk)
    form = client.get(change).context["adminform"].form
    assert "is_superuser" not in form.fields and "user_permissions" not in form.fields
    response = client.post(
        change,
        {
            "username": "bob",
            "first_name": "Bob",
            "last_name": "",
            "email": "bob@example.com",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "_save": "1",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "08:00:00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    bob.user.refresh_from_db()
    assert bob.user.first_name == "Bob" and bob.user.is_staff and not bob.user.is_superuser


@pytest.mark.django_db
def test_user_shared_with_another_merchant_is_view_only(client, acme, other, alice, charlie):
    shared = factories.member(acme, "erin", Membership.Role.AGENT)
    factories.member(other, "erin", Membership.Role.AGENT)
    logged_in(client, alice)
    change = url("accounts", "user", "change", shared.user.pk)
    response = client.get(change)
    assert response.status_code == 200 and not response.context["has_change_permission"]
    client.post(change, {"username": "erin2", "is_active": "on", "_save": "1"})
    password_url = reverse("admin:auth_user_password_change", args=[shared.user.pk])
    assert (
        client.post(
            password_url,
            {"password1": "x-Secret-991", "password2": "x-Secret-991", "usable_password": "true"},
        ).status_code
        == 403
    )
    shared.user.refresh_from_db()
    assert shared.user.username == "erin" and shared.user.check_password("pw-erin")


@pytest.mark.django_db
def test_messages_are_read_only_and_only_root_deletes(client, root, alice, acme_data):
    message = Message.objects.filter(conversation=acme_data["conversation"]).first()
    logged_in(client, alice)
    change = url("conversations", "message", "change", message.pk)
    response = client.get(change)
    assert response.status_code == 200 and not response.context["has_change_permission"]
    client.post(change, {"body": "rewritten", "_save": "1"})
    assert client.get(url("conversations", "message", "add")).status_code == 403
    assert client.get(url("conversations", "message", "delete", message.pk)).status_code == 403
    message.refresh_from_db()
    assert message.body == "我的订单在哪里？"
    client.force_login(root)
    assert client.get(url("conversations", "message", "add")).status_code == 403
    client.post(change, {"body": "rewritten", "_save": "1"})
    message.refresh_from_db()
    assert message.body == "我的订单在哪里？"
    response = client.post(url("conversations", "message", "delete", message.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Message.objects.filter(pk=message.pk).exists()


@pytest.mark.django_db
def test_conversation_page_lists_messages_in_seq_order(client, alice, bob, acme_data):
    conversation = acme_data["conversation"]
    factories.visitor_message(acme_data["visitor"], "第三条")
    logged_in(client, alice)
    page = client.get(
        url("conversations", "conversation", "change", conversation.pk)
    ).content.decode()
    transcript = page[page.index("kefu-transcript") :]
    positions = [transcript.index(body) for body in ("我的订单在哪里？", "马上帮您查", "第三条")]
    assert positions == sorted(positions)
    # The link to all messages filters the message list to this conversation.
    rows = (
        client.get(url("conversations", "message") + f"?conversation__id__exact={conversation.pk}")
        .context["cl"]
        .result_list
    )
    assert sorted(m.seq for m in rows) == [1, 2, 3, 4]  # with the "joined" system line


@pytest.mark.django_db
def test_untrusted_text_is_escaped_in_html(client, acme, alice):
    payload = '<img src=x onerror="window.__xss=1">'
    visitor = factories.visitor(acme, name=payload, page_title="<script>window.__xss=1</script>")
    message = factories.visitor_message(visitor, payload)
    logged_in(client, alice)
    for path in (
        url("conversations", "visitor"),
        url("conversations", "visitor", "change", visitor.pk),
        url("conversations", "conversation"),
        url("conversations", "conversation", "change", message.conversation_id),
        url("conversations", "message"),
    ):
        page = client.get(path).content.decode()
        assert "<img src=x" not in page and "<script>window.__xss" not in page, path
        assert "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in page, path
