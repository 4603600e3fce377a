"""Celery app. Broker: Redis when REDIS_URL is set, otherwise a folder under var/ (see
settings), so delayed tasks run in a real worker at their due time even on a laptop."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

app = Celery("kefu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks (run by exactly one `celery -A kefu beat`).
app.conf.beat_schedule = {
    "routing-auto-resolve": {"task": "conversations.tasks.routing_auto_resolve", "schedule": 60.0},
    "routing-sweep": {"task": "conversations.tasks.routing_sweep", "schedule": 60.0},
    # Timed snoozes whose time has come (conversations.services.inbox).
    "snooze-wake": {"task": "conversations.tasks.snooze_wake", "schedule": 30.0},
    # Search index rows of deleted messages (conversations.search.index_prune).
    "search-index-prune": {"task": "conversations.tasks.search_index_prune", "schedule": 86400.0},
    # Uploads never sent in a message (conversations.services.attachments).
    "attachments-purge": {
        "task": "conversations.tasks.attachments_purge_unsent",
        "schedule": 3600.0,
    },
    # Visitor messages whose process died before their bot/router step (conversations.pipeline).
    "pipeline-sweep": {"task": "conversations.pipeline.pipeline_sweep", "schedule": 30.0},
    # Visitors waiting longer than their merchant's escalation delay (notifications.tasks; the
    # task keeps the name it had in conversations, so a running beat and queued runs still match).
    "notify-unanswered": {"task": "conversations.notify.escalate_unanswered", "schedule": 30.0},
    # FAQ entries whose validity dates were crossed: retrain (knowledge.services).
    "kb-validity-sweep": {"task": "knowledge.tasks.kb_validity_sweep", "schedule": 60.0},
    # Merchants' retention periods: old conversations anonymised or deleted in batches.
    "retention-sweep": {"task": "conversations.tasks.retention_sweep", "schedule": 3600.0},
    # Report rollups of facts whose signal was lost, and merchants whose time zone changed.
    "reports-rollup-sweep": {"task": "reports.tasks.rollup_sweep", "schedule": 300.0},
    # Webhook events whose signal was lost, deliveries whose task or worker was (webhooks).
    "webhooks-sweep": {"task": "webhooks.tasks.sweep", "schedule": 30.0},
}
