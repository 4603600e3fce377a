"""Brute-force protection on the login forms (issue 16, finding 3; django-axes, kefu/settings.py):
after AXES_FAILURE_LIMIT failures for one account or from one address, even the right password
is refused (429) until the cool-off; the platform operator sees the records in the admin and
unlocks by deleting one; a merchant owner sees none of it."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests import factories

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def attempt(path: str, username: str, password: str, ip: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


@pytest.fixture
def staff_alice(alice):
    alice.user.is_staff = True
    alice.user.save()
    return alice


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_the_right_password_is_refused_after_too_many_failures(staff_alice, path):
    limit = settings.AXES_FAILURE_LIMIT
    assert 3 <= limit <= 20
    assert attempt(path, "alice", "wrong").status_code == 200  # the form, with its error
    for _ in range(limit - 1):
        attempt(path, "alice", "wrong")
    locked = attempt(path, "alice", "pw-alice")
    assert locked.status_code == 429
    assert "_auth_user_id" not in locked.wsgi_request.session
    assert "登录尝试次数过多" in locked.content.decode() or "Too many" in locked.content.decode()


@pytest.mark.django_db
def test_lockout_per_account_from_many_addresses(staff_alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt("/accounts/login/", "alice", "wrong", ip=f"10.1.0.{i + 1}")
    assert attempt("/accounts/login/", "alice", "pw-alice", ip="10.2.0.1").status_code == 429


@pytest.mark.django_db
def test_lockout_per_address_across_accounts(staff_alice, bob):
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt("/accounts/login/", f"guess{i}", "wrong", ip="10.3.0.1")
    assert attempt("/accounts/login/", "bob", "pw-bob", ip="10.3.0.1").status_code == 429
    # Another address and an account nobody guessed at still sign in.
    assert signed_in(attempt("/accounts/login/", "bob", "pw-bob", ip="10.3.0.2"))


@pytest.mark.django_db
def test_a_few_failures_then_success_resets_the_count(staff_alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("/accounts/login/", "alice", "wrong")
    assert signed_in(attempt("/accounts/login/", "alice", "pw-alice"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("/accounts/login/", "alice", "wrong")
    assert signed_in(attempt("/accounts/login/", "alice", "pw-alice"))


@pytest.mark.django_db
def test_operator_sees_records_and_unlocks(client, staff_alice, acme):
    root = factories.member(acme, "root", password="pw-root").user
    root.is_staff = root.is_superuser = True
    root.save()
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt("/accounts/login/", "alice", "wrong", ip=f"10.4.0.{i + 1}")
    assert attempt("/accounts/login/", "alice", "pw-alice", ip="10.4.1.1").status_code == 429

    client.force_login(root)
    listing = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    # Unlock: delete alice's records (the admin's bulk delete action).
    ids = list(AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True))
    response = client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()
    assert signed_in(attempt("/accounts/login/", "alice", "pw-alice", ip="10.4.1.1"))


@pytest.mark.django_db
def test_merchant_owner_does_not_see_the_records(client, staff_alice):
    attempt("/accounts/login/", "someone", "wrong")
    client.force_login(staff_alice.user)
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code in (302, 403)
    assert "someone" not in client.get(reverse("admin:index")).content.decode()
