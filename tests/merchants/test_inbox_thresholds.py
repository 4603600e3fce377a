"""The waiting-time thresholds of the inbox (Merchant.wait_warn_seconds / wait_alert_seconds):
edited by the merchant's owner in the back office, checked (the alert comes at or after the
warning), passed to the workspace page; charlie cannot change Acme's."""

import pytest
from django.urls import reverse

from tests.kefu.test_admin_scoping import MERCHANT_DEFAULTS, MERCHANT_INLINES

pytestmark = pytest.mark.django_db


def _post(client, merchant, **fields):
    return client.post(
        reverse("admin:merchants_merchant_change", args=[merchant.pk]),
        {
            "name": merchant.name,
            "allowed_origins": "https://shop.example.com",
            "welcome_message": "",
            "timezone": "Asia/Shanghai",
            "_save": "1",
            **MERCHANT_DEFAULTS,
            **MERCHANT_INLINES,
            **fields,
        },
    )


def test_owner_sets_thresholds_and_the_workspace_gets_them(client, acme, alice):
    client.force_login(alice.user)
    response = _post(client, acme, wait_warn_seconds=60, wait_alert_seconds=180)
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.wait_warn_seconds, acme.wait_alert_seconds) == (60, 180)
    page = client.get(reverse("workspace:workspace", args=[acme.pk])).content.decode()
    assert 'data-wait-warn="60"' in page and 'data-wait-alert="180"' in page


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"wait_warn_seconds": 300, "wait_alert_seconds": 60}, "wait_alert_seconds"),
        ({"wait_warn_seconds": -1}, "wait_warn_seconds"),
        ({"wait_alert_seconds": "soon"}, "wait_alert_seconds"),
    ],
)
def test_bad_thresholds_are_form_errors(client, acme, alice, fields, field):
    client.force_login(alice.user)
    response = _post(client, acme, **fields)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    acme.refresh_from_db()
    assert (acme.wait_warn_seconds, acme.wait_alert_seconds) == (120, 300)


def test_charlie_cannot_change_acmes_thresholds(client, acme, charlie):
    client.force_login(charlie.user)
    response = _post(client, acme, wait_warn_seconds=1, wait_alert_seconds=2)
    assert response.status_code in (302, 403, 404)
    acme.refresh_from_db()
    assert (acme.wait_warn_seconds, acme.wait_alert_seconds) == (120, 300)
