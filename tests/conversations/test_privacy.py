"""The customer-data lifecycle (issue 16; conversations/services/privacy.py): export and erase
one visitor from the API and the admin, each merchant's retention in bounded batches (also by a
real Celery worker), IP truncation and the audit log. Another merchant's data is never touched."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import search, services
from conversations.models import (
    Attachment,
    Conversation,
    ConversationEvent,
    Message,
    Visitor,
    VisitorPageView,
)
from conversations.services import privacy
from merchants.models import AuditEntry, Merchant
from tests import factories
from tests.conversations.attachment_helpers import (
    attachment_storage,  # noqa: F401 (autouse fixture: files in the test's own folder)
    pdf,
    stored_files,
    upload,
)
from tests.conversations.conftest import session_client, token_client


def chat(
    merchant,
    name="王芳",
    email="wang@example.com",
    bodies=("我的地址是北京市朝阳区", "电话 13800138000"),
):
    visitor = factories.visitor(
        merchant, name=name, email=email, phone="13800138000", ip="203.0.113.9"
    )
    services.visitor_page_view(
        merchant_id=merchant.pk, visitor_id=visitor.pk, url="https://s.example/a", title="订单"
    )
    first = None
    for body in bodies:
        message = factories.visitor_message(visitor, body)
        first = first or message
    return visitor, first.conversation_id


@pytest.fixture
def acme_chat(acme, bob):
    visitor, conversation_id = chat(acme)
    factories.agent_message(bob, conversation_id, "好的，寄到北京市朝阳区")
    services.message_send_by_agent(
        merchant_id=acme.pk,
        conversation_id=conversation_id,
        sender=services.Sender.agent(bob),
        client_msg_id=None,
        body="老客户",
        private=True,
    )
    return visitor, conversation_id


@pytest.fixture
def other_chat(other):
    return chat(other, name="外人", email="x@other.example")


def test_export_holds_everything_about_the_visitor_and_is_audited(
    acme, alice, acme_chat, other_chat
):
    visitor, conversation_id = acme_chat
    response = session_client(alice).get(f"/api/v1/visitors/{visitor.pk}/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f"visitor-{visitor.pk}.zip" in response["Content-Disposition"]
    data = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("visitor.json"))
    assert data["visitor"]["name"] == "王芳" and data["visitor"]["phone"] == "13800138000"
    assert [v["title"] for v in data["page_views"]] == ["订单"]
    (conversation,) = data["conversations"]
    assert conversation["id"] == conversation_id
    texts = [(m["from"], m["text"], m["private_note"]) for m in conversation["messages"]]
    assert texts == [
        ("visitor", "我的地址是北京市朝阳区", False),
        ("visitor", "电话 13800138000", False),
        ("system", "Bob已加入会话。", False),  # the line the visitor saw (their thread)
        ("agent", "好的，寄到北京市朝阳区", False),
        ("agent", "老客户", True),
    ]
    assert "外人" not in response.content.decode("utf-8", "ignore")
    entry = AuditEntry.objects.get(merchant=acme, action="visitor.exported")
    assert entry.actor == alice.user and entry.target == f"visitor {visitor.pk}"


def test_only_managers_and_tokens_export_or_erase_and_only_their_own(
    acme, bob, charlie, acme_chat, acme_token
):
    visitor, _ = acme_chat
    assert session_client(bob).get(f"/api/v1/visitors/{visitor.pk}/export/").status_code == 403
    assert (
        session_client(bob)
        .post(f"/api/v1/visitors/{visitor.pk}/erase/", {"mode": "delete"}, format="json")
        .status_code
        == 403
    )
    outsider = session_client(charlie)
    assert outsider.get(f"/api/v1/visitors/{visitor.pk}/export/").status_code == 404
    assert (
        outsider.post(
            f"/api/v1/visitors/{visitor.pk}/erase/", {"mode": "delete"}, format="json"
        ).status_code
        == 404
    )
    outsider_token = token_client(factories.api_token(charlie.merchant))
    assert outsider_token.get(f"/api/v1/visitors/{visitor.pk}/export/").status_code == 404
    assert Visitor.objects.filter(pk=visitor.pk, name="王芳").exists()
    assert not AuditEntry.objects.filter(merchant=acme).exists()
    assert token_client(acme_token).get(f"/api/v1/visitors/{visitor.pk}/export/").status_code == 200
    assert AuditEntry.objects.get(merchant=acme).actor_label.startswith("API token CRM 集成")


@pytest.mark.parametrize("body", [{}, {"mode": "shred"}, {"mode": ["delete"]}])
def test_a_bad_erase_request_is_a_field_error_and_erases_nothing(alice, acme_chat, body):
    visitor, _ = acme_chat
    response = session_client(alice).post(
        f"/api/v1/visitors/{visitor.pk}/erase/", body, format="json"
    )
    assert response.status_code == 400 and "mode" in response.json()
    assert Message.objects.filter(body="电话 13800138000").exists()


def test_anonymise_removes_every_text_and_contact_and_keeps_the_figures(
    acme, alice, acme_chat, other_chat
):
    visitor, conversation_id = acme_chat
    events_before = ConversationEvent.objects.filter(conversation_id=conversation_id).count()
    response = session_client(alice).post(
        f"/api/v1/visitors/{visitor.pk}/erase/", {"mode": "anonymise"}, format="json"
    )
    assert response.status_code == 200
    # Four written messages and the system line "Bob joined".
    assert response.json() == {"mode": "anonymise", "conversations": 1, "messages": 5}
    visitor.refresh_from_db()
    assert (visitor.name, visitor.email, visitor.phone, visitor.ip, visitor.page_url) == (
        "",
        "",
        "",
        None,
        "",
    )
    assert visitor.anonymous_id.startswith("erased-")
    assert not VisitorPageView.objects.filter(visitor=visitor).exists()
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.erased_at is not None and conversation.last_message_preview == ""
    assert set(
        Message.objects.filter(conversation=conversation).values_list("body", flat=True)
    ) == {""}
    assert Message.objects.filter(conversation=conversation).count() == 5  # the figures stay
    assert conversation.first_response_at is not None
    assert (
        ConversationEvent.objects.filter(conversation_id=conversation_id).count() == events_before
    )
    other_visitor, other_conversation = other_chat
    assert Visitor.objects.get(pk=other_visitor.pk).name == "外人"
    assert Message.objects.filter(
        conversation_id=other_conversation, body="电话 13800138000"
    ).exists()
    assert (
        AuditEntry.objects.get(merchant=acme, action="visitor.erased").detail["mode"] == "anonymise"
    )


def index_hits(merchant, term: str) -> list[int]:
    return search.index_ids(merchant_id=merchant.pk, terms=[term], before_id=None, limit=50).ids


@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_an_erased_visitors_words_leave_the_search_index_at_once(
    acme, other, alice, acme_chat, mode
):
    other_visitor, _ = chat(other)
    assert index_hits(acme, "朝阳区") and index_hits(other, "朝阳区")
    visitor, _ = acme_chat
    session_client(alice).post(
        f"/api/v1/visitors/{visitor.pk}/erase/", {"mode": mode}, format="json"
    )
    assert index_hits(acme, "朝阳区") == [] and index_hits(acme, "13800138000") == []
    assert index_hits(other, "朝阳区")  # another merchant's index untouched


def test_delete_leaves_nothing_of_the_visitor_behind(acme, alice, acme_chat, other_chat):
    visitor, conversation_id = acme_chat
    response = session_client(alice).post(
        f"/api/v1/visitors/{visitor.pk}/erase/", {"mode": "delete"}, format="json"
    )
    assert response.status_code == 200
    assert not Visitor.objects.filter(pk=visitor.pk).exists()
    assert not Conversation.objects.filter(pk=conversation_id).exists()
    assert not Message.objects.filter(conversation_id=conversation_id).exists()
    assert not ConversationEvent.objects.filter(visitor_id=visitor.pk).exists()
    assert not VisitorPageView.objects.filter(visitor_id=visitor.pk).exists()
    other_visitor, other_conversation = other_chat
    assert Message.objects.filter(conversation_id=other_conversation).count() == 2
    assert ConversationEvent.objects.filter(visitor_id=other_visitor.pk).exists()


def resolved_long_ago(merchant, days: int, n: int = 1) -> list[int]:
    ids = []
    for i in range(n):
        _, conversation_id = chat(merchant, name=f"老客户{i}")
        Conversation.objects.filter(pk=conversation_id).update(
            status=Conversation.Status.RESOLVED, resolved_at=timezone.now() - timedelta(days=days)
        )
        Visitor.objects.filter(conversations__pk=conversation_id).update(
            last_seen_at=timezone.now() - timedelta(days=days)
        )
        ids.append(conversation_id)
    return ids


def test_retention_anonymises_in_bounded_batches_and_spares_the_rest(acme, other):
    acme.retention_days = 30
    acme.save()
    old = resolved_long_ago(acme, days=40, n=3)
    recent = resolved_long_ago(acme, days=10)
    _, still_open = chat(acme, name="正在聊")
    other_old = resolved_long_ago(other, days=400)  # other has no retention
    first = privacy.retention_apply(
        merchant=Merchant.objects.get(pk=acme.pk), batch=2, max_batches=1
    )
    assert first == {"done": 2, "left": 1}
    second = privacy.retention_apply(
        merchant=Merchant.objects.get(pk=acme.pk), batch=2, max_batches=1
    )
    assert second == {"done": 1, "left": 0}
    erased = set(Conversation.objects.filter(erased_at__isnull=False).values_list("pk", flat=True))
    assert erased == set(old)
    assert not Message.objects.filter(conversation_id__in=old).exclude(body="").exists()
    assert (
        Message.objects.filter(conversation_id__in=recent + [still_open] + other_old)
        .exclude(body="")
        .count()
        == 6
    )
    assert set(
        Visitor.objects.filter(conversations__pk__in=old).values_list("name", flat=True)
    ) == {""}
    runs = AuditEntry.objects.filter(merchant=acme, action="retention.run").order_by("id")
    assert [r.detail["done"] for r in runs] == [2, 1] and runs[0].actor_label == "retention"
    assert privacy.retention_apply(merchant=Merchant.objects.get(pk=acme.pk)) == {
        "done": 0,
        "left": 0,
    }


def test_retention_delete_removes_conversations_and_visitors_left_with_nothing(acme):
    acme.retention_days = 30
    acme.retention_action = Merchant.RetentionAction.DELETE
    acme.save()
    old = resolved_long_ago(acme, days=40, n=2)
    privacy.retention_sweep()
    assert not Conversation.objects.filter(pk__in=old).exists()
    assert not Visitor.objects.filter(merchant=acme).exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_retention_task(acme, start_celery_worker):
    from conversations import tasks

    acme.retention_days = 7
    acme.save()
    old = resolved_long_ago(acme, days=8, n=2)
    worker = start_celery_worker()
    result = tasks.retention_sweep.delay()
    worker.wait_for(
        lambda: Conversation.objects.filter(pk__in=old, erased_at__isnull=False).count() == 2, 60
    )
    assert result.id
    assert AuditEntry.objects.filter(merchant=acme, action="retention.run").exists()


@pytest.mark.parametrize(
    "address, stored",
    [("203.0.113.77", "203.0.113.0"), ("2001:db8:1234:5678::1", "2001:db8:1234::")],
)
def test_a_merchant_may_keep_only_the_network_part_of_addresses(acme, address, stored):
    acme.truncate_visitor_ip = True
    acme.save()
    visitor = services.visitor_touch(merchant=acme, anonymous_id="a" * 20, ip=address)
    assert visitor.ip == stored


def test_admin_changes_are_in_the_merchants_audit_log_which_nobody_edits(
    client, acme, alice, charlie, other
):
    alice.user.is_staff = True
    alice.user.save()
    client.force_login(alice.user)
    page = client.get(f"/admin/merchants/merchant/{acme.pk}/change/")
    form = page.context["adminform"].form
    data = {
        k: v for k, v in form.initial.items() if v is not None and not isinstance(v, (list, dict))
    }
    data.update({"name": acme.name, "retention_days": "90", "retention_action": "anonymise"})
    # Inline formsets of the page, unchanged.
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for field in management:
            data[field.html_name] = field.value()
    response = client.post(f"/admin/merchants/merchant/{acme.pk}/change/", data)
    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    entry = AuditEntry.objects.get(merchant=acme, action="admin.change")
    assert (
        entry.actor == alice.user
        and entry.detail["change"]
        == [{"changed": {"fields": ["Keep conversations for (days)", "After that"]}}]
        or "Keep conversations for (days)" in json.dumps(entry.detail, ensure_ascii=False)
    )
    listing = client.get("/admin/merchants/auditentry/")
    assert (
        listing.status_code == 200
        and f"/admin/merchants/auditentry/{entry.pk}/" in listing.content.decode()
    )
    assert client.post(f"/admin/merchants/auditentry/{entry.pk}/change/", {}).status_code == 403
    charlie.user.is_staff = True
    charlie.user.save()
    client.force_login(charlie.user)
    assert (
        f"/admin/merchants/auditentry/{entry.pk}/"
        not in client.get("/admin/merchants/auditentry/").content.decode()
    )
    assert (
        client.get(f"/admin/merchants/auditentry/{entry.pk}/change/").status_code == 302
    )  # "does not exist"


def test_the_admin_erase_action_asks_first(client, acme, alice, acme_chat):
    visitor, _ = acme_chat
    alice.user.is_staff = True
    alice.user.save()
    client.force_login(alice.user)
    asked = client.post(
        "/admin/conversations/visitor/", {"action": "erase", "_selected_action": [visitor.pk]}
    )
    assert asked.status_code == 200 and "王芳" in asked.content.decode()
    assert Visitor.objects.filter(pk=visitor.pk).exists()
    done = client.post(
        "/admin/conversations/visitor/",
        {"action": "erase", "_selected_action": [visitor.pk], "confirmed": "yes"},
    )
    assert done.status_code == 302
    assert not Visitor.objects.filter(pk=visitor.pk).exists()
    assert AuditEntry.objects.get(merchant=acme, action="visitor.erased").actor == alice.user


def send_file(visitor, attachment):
    services.message_send_by_visitor(
        merchant_id=visitor.merchant_id,
        visitor_id=visitor.pk,
        client_msg_id=f"file-{attachment.pk}",
        body="",
        attachment_id=attachment.pk,
    )


@pytest.mark.parametrize("mode", ["export", "anonymise", "delete"])
def test_files_are_exported_and_erased_with_the_visitor(
    acme, alice, other, acme_chat, django_capture_on_commit_callbacks, mode
):
    visitor, conversation_id = acme_chat
    sent = services.attachment_upload(
        merchant_id=acme.pk,
        uploader_key=f"visitor:{visitor.pk}",
        upload_id="f1",
        upload=upload(pdf(), "身份证.pdf"),
        visitor_id=visitor.pk,
    )[0]
    send_file(visitor, sent)
    other_visitor, other_conversation = chat(other)
    kept = services.attachment_upload(
        merchant_id=other.pk,
        uploader_key=f"visitor:{other_visitor.pk}",
        upload_id="o1",
        upload=upload(pdf(), "other.pdf"),
        visitor_id=other_visitor.pk,
    )[0]
    send_file(other_visitor, kept)
    assert len(stored_files()) == 2
    client = session_client(alice)
    if mode == "export":
        archive = zipfile.ZipFile(
            io.BytesIO(client.get(f"/api/v1/visitors/{visitor.pk}/export/").content)
        )
        data = json.loads(archive.read("visitor.json"))
        (entry,) = data["files"]
        assert entry["name"] == "身份证.pdf" and archive.read(entry["path"]) == pdf()
        return
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/visitors/{visitor.pk}/erase/", {"mode": mode}, format="json")
    assert not Attachment.objects.filter(merchant=acme).exists()
    (left,) = stored_files()
    assert left.endswith(kept.file.name.rsplit("/", 1)[-1])
    assert Attachment.objects.filter(pk=kept.pk).exists()
