"""Settings read the environment with safe defaults; checked in fresh interpreters so the
environment of this test run does not leak in."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # a fresh interpreter per check

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "options": db.get("OPTIONS", {}),
    "conn_max_age": db.get("CONN_MAX_AGE"), "test": db.get("TEST", {}),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_config": settings.CHANNEL_LAYERS["default"].get("CONFIG"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL, "debug": settings.DEBUG,
    "eager": getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False),
    "secret_len": len(settings.SECRET_KEY),
}))
"""


def probe(tmp_path, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "CELERY_BROKER_URL")
    }
    clean.update(DJANGO_SETTINGS_MODULE="kefu.settings", KEFU_VAR_DIR=str(tmp_path), **env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defaults_with_no_environment(tmp_path):
    s = probe(tmp_path)
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(tmp_path / "db.sqlite3")
    assert s["layer"] == "channels.layers.InMemoryChannelLayer"
    assert s["cache"].endswith("LocMemCache")
    assert s["broker"] == "filesystem://" and s["eager"] is False
    assert s["debug"] is False
    # A per-checkout secret is generated, not a known constant, and reused on the next start.
    assert s["secret_len"] >= 50
    assert (tmp_path / "secret_key").read_text().strip() == (
        tmp_path / "secret_key"
    ).read_text().strip()
    assert probe(tmp_path)["secret_len"] == s["secret_len"]


def test_mysql_and_redis_from_environment(tmp_path):
    s = probe(
        tmp_path,
        DATABASE_URL="mysql://u:p@db.local:3306/kefu",
        REDIS_URL="redis://cache.local:6379/2",
        DEBUG="true",
    )
    assert s["engine"] == "django.db.backends.mysql"
    assert s["options"]["charset"] == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in s["options"]["init_command"]
    assert s["conn_max_age"] == 60
    assert s["test"]["CHARSET"] == "utf8mb4"
    assert s["layer"] == "kefu.channel_layer.RedisPubSubChannelLayer"
    host = s["layer_config"]["hosts"][0]
    assert host["address"] == "redis://cache.local:6379/2"
    # redis-py 8 caps the pool at 100 by default, too few for mass disconnects.
    assert host["max_connections"] >= 1000
    assert s["cache"].endswith("RedisCache")
    assert s["broker"] == "redis://cache.local:6379/2"
    assert s["debug"] is True
