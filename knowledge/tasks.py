"""Celery tasks: thin, take ids, re-check state when they run (they may run late or twice).

training and importers queue these by name (training.TRAIN_TASK, importers.IMPORT_TASK), so
that this module may import them without a cycle."""

from celery import shared_task

from . import importers, services, training


@shared_task(name=training.TRAIN_TASK, acks_late=True)
def kb_train_task(*, merchant_id: int, kb_version: int | None = None) -> int | None:
    """Scheduled KB_TRAIN_DEBOUNCE_SECONDS after a KB change; trains unless the model is fresh
    or a newer change will train (knowledge.training.kb_train_if_due). Returns the model id."""
    model = training.kb_train_if_due(merchant_id=merchant_id, kb_version=kb_version)
    return model.pk if model else None


@shared_task(name=importers.IMPORT_TASK, acks_late=True)
def kb_import_task(*, job_id: int) -> None:
    importers.kb_import_job_run(job_id=job_id)


@shared_task(name="knowledge.tasks.kb_validity_sweep")
def kb_validity_sweep() -> list[int]:
    """Every minute (kefu/celery.py beat): retrain where FAQ validity dates were crossed."""
    return training.kb_validity_sweep()


@shared_task(name=services.SUGGEST_TASK)
def gap_suggest_task(*, merchant_id: int, conversation_id: int, text: str) -> int:
    """After an agent's reply in a handed-over conversation: suggest the FAQ entry it answered
    with for that conversation's knowledge gaps (knowledge.services.gap_suggest_from_reply)."""
    return services.gap_suggest_from_reply(
        merchant_id=merchant_id, conversation_id=conversation_id, text=text
    )
