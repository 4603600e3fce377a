"""Finding 6 of issue 16: a Content-Security-Policy with nonces on every page, the usual
browser headers, and HSTS / SSL redirect / proxy trust from the environment
(docs/security.md, "6. Headers and TLS")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }


@pytest.mark.parametrize(
    "path, who",
    [
        ("/accounts/login/", None),
        ("/workspace/", "agent"),
        ("/admin/", "owner"),
        ("/admin/conversations/conversation/", "owner"),
        ("/api/docs/", None),
        ("/widget/demo/?key={key}", None),
        ("/healthz", None),
    ],
)
def test_every_page_has_a_policy_that_runs_only_our_scripts(client, acme, alice, bob, path, who):
    if who:
        client.force_login((alice if who == "owner" else bob).user)
    response = client.get(path.format(key=acme.widget_key), follow=True)
    assert response.status_code == 200
    policy = directives(response)
    script = policy["script-src"]
    assert "'self'" in script
    assert all(s == "'self'" or re.fullmatch(r"'nonce-[A-Za-z0-9+/=]{16,}'", s) for s in script)
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(script)
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_the_workspace_scripts_carry_the_responses_own_nonce(client, bob):
    client.force_login(bob.user)
    nonces = []
    for _ in range(2):
        response = client.get("/workspace/", follow=True)
        (nonce,) = [s[7:-1] for s in directives(response)["script-src"] if s.startswith("'nonce-")]
        tags = re.findall(r"<script [^>]*>", response.content.decode())
        assert tags and all(f'nonce="{nonce}"' in tag for tag in tags)
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_api_docs_start_swagger_from_a_file_not_an_inline_script(client):
    html = client.get("/api/docs/").content.decode()
    assert re.search(r"<script>\s*\S", html) is None  # no inline code the policy would block
    assert re.search(r'<script src="/api/docs/\?script=?"></script>', html)


def test_ssl_redirect_spares_the_health_check_and_trusts_the_proxy_only_when_told(client, settings):
    # The settings fixture only: mixed with override_settings it would restore the override's
    # values after the test, and every later test would be redirected to https.
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/accounts/login/")["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200
    # Without TRUST_X_FORWARDED_PROTO a client claiming https is still redirected...
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 301
    # ...with it, the proxy's word counts.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


def deploy_check(**env) -> str:
    child = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    child.update(
        DJANGO_SETTINGS_MODULE="kefu.settings",
        KEFU_VAR_DIR=str(ROOT / "var" / "deploy-check"),
        SECRET_KEY="x" * 60 + "deploy-check-key-that-is-long-and-random-enough",
        DEBUG="False",
        ALLOWED_HOSTS="kefu.example.com",
        SECURE_COOKIES="True",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def test_hsts_and_ssl_redirect_are_set_from_the_environment():
    plain = deploy_check()
    assert "security.W004" in plain and "security.W008" in plain
    behind_tls = deploy_check(
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="True",
        SECURE_SSL_REDIRECT="True",
        TRUST_X_FORWARDED_PROTO="True",
    )
    assert "security.W004" not in behind_tls and "security.W008" not in behind_tls
    assert "security.W005" not in behind_tls  # includeSubDomains
