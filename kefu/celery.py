"""Celery app. Broker: Redis when REDIS_URL is set, otherwise a folder under var/ (see
settings), so delayed tasks run in a real worker at their due time even on a laptop."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

app = Celery("kefu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
