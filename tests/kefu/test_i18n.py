"""Every UI string has a zh-hans translation, the committed .mo files match the .po files, and
pages come out in the visitor's or agent's language."""

from pathlib import Path

import polib
import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_string_is_translated_and_compiled(domain):
    po = polib.pofile(str(LOCALE / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po"))
    untranslated = [e.msgid for e in po if not e.msgstr and not e.obsolete]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    assert untranslated == [] and fuzzy == [], "run `make messages` and translate"
    mo = polib.mofile(str(LOCALE / "zh_Hans" / "LC_MESSAGES" / f"{domain}.mo"))
    compiled = {e.msgid: e.msgstr for e in mo}
    assert {e.msgid: e.msgstr for e in po if not e.obsolete} == compiled, (
        "stale .mo: run `make messages`"
    )


def test_workspace_and_login_follow_accept_language(client, bob):
    zh = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    en = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "登录" in zh and "Sign in" in en
    client.force_login(bob.user)
    page = client.get(
        f"/workspace/{bob.merchant_id}/", HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    assert "工作台" in page and "暂无会话" in page


def test_javascript_catalogue_is_served_in_chinese(client):
    js = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "\\u5df2\\u8fde\\u63a5" in js or "已连接" in js  # "Connected"
