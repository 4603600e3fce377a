"""The server-rendered pages behind the browser tests, checked without a browser."""

import html

import pytest
from django.test import Client


@pytest.mark.django_db
def test_demo_page_embeds_the_loader_like_a_merchant(acme):
    page = Client().get(f"/widget/demo/?key={acme.widget_key}", HTTP_HOST="127.0.0.1:8000")
    assert page.status_code == 200
    tag = (
        f'<script src="http://127.0.0.1:8000/widget/loader.js" '
        f'data-merchant="{acme.widget_key}" async></script>'
    )
    assert page.content.decode().count(tag) == 1
    # ...and the same snippet shown as text to copy.
    assert html.unescape(page.content.decode()).count(tag) == 2


@pytest.mark.django_db
def test_demo_page_without_merchant_explains_and_loads_nothing():
    page = Client().get("/widget/demo/?key=nope")
    assert page.status_code == 200
    assert b'loader.js" data-merchant' not in page.content
    assert b"kefu_demo" in page.content


@pytest.mark.django_db
def test_loader_is_served_as_javascript():
    response = Client().get("/widget/loader.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert b"attachShadow" in b"".join(
        response.streaming_content if response.streaming else [response.content]
    )


@pytest.mark.django_db
def test_login_page_keeps_next():
    page = Client().get("/accounts/login/?next=/workspace/7/")
    assert page.status_code == 200
    assert b'name="next" value="/workspace/7/"' in page.content
    assert b'name="csrfmiddlewaretoken"' in page.content


@pytest.mark.django_db
def test_workspace_page_carries_its_config_escaped(acme, bob):
    bob.display_name = '<b>"Bob"</b>'
    bob.save()
    client = Client()
    client.force_login(bob.user)
    page = client.get(f"/workspace/{acme.pk}/").content.decode()
    assert f'data-merchant-id="{acme.pk}"' in page
    assert 'data-display-name="&lt;b&gt;&quot;Bob&quot;&lt;/b&gt;"' in page
    assert "/jsi18n/" in page and "workspace/workspace.js" in page


@pytest.mark.django_db
def test_demo_page_is_served_only_where_the_setting_allows(acme, settings):
    """Issue 16, finding 10: off by default (tests/settings.py turns it on for the browser
    tests, `make run` for the demo); and a bare /widget/demo/ names no merchant's widget."""
    settings.WIDGET_DEMO_PAGE = False
    assert Client().get(f"/widget/demo/?key={acme.widget_key}").status_code == 404
    settings.WIDGET_DEMO_PAGE = True
    bare = Client().get("/widget/demo/")
    assert bare.status_code == 200
    assert acme.widget_key.encode() not in bare.content


def test_demo_page_is_off_in_the_product_defaults():
    import kefu.settings

    assert kefu.settings.WIDGET_DEMO_PAGE is False
