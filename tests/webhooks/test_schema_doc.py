"""docs/webhook-events.md is generated from webhooks/schema.py; every subscribable event kind
has exactly one payload class, documented."""

from pathlib import Path

from django.conf import settings

from webhooks import schema
from webhooks.models import SUBSCRIBABLE
from webhooks.schema_doc import render

DOC = Path(settings.BASE_DIR) / "docs" / "webhook-events.md"


def test_webhook_events_doc_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/webhook-events.md is stale: run `make webhooks-doc` (manage.py webhooks_doc --write)"
    )


def test_every_subscribable_kind_has_one_documented_payload():
    assert set(schema.BY_TYPE) == {k.value for k in SUBSCRIBABLE}
    text = DOC.read_text(encoding="utf-8")
    for model in schema.EVENTS:
        assert model.__doc__, f"{model.__name__} needs a docstring: it is its documentation"
        assert f"### `{schema.event_type(model)}`" in text
