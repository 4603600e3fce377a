from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from webhooks.schema_doc import render

DOC = Path(settings.BASE_DIR) / "docs" / "webhook-events.md"


class Command(BaseCommand):
    help = "Print docs/webhook-events.md as generated from webhooks/schema.py (--write saves it)."

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true")

    def handle(self, *args, write, **options):
        text = render()
        if write:
            DOC.write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {DOC}")
        else:
            self.stdout.write(text)
