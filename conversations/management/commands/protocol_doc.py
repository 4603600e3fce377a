from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.protocol_doc import render

DOC = Path(settings.BASE_DIR) / "docs" / "protocol.md"


class Command(BaseCommand):
    help = "Print docs/protocol.md as generated from conversations/protocol/ (--write saves it)."

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true")

    def handle(self, *args, write, **options):
        text = render()
        if write:
            DOC.parent.mkdir(exist_ok=True)
            DOC.write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {DOC}")
        else:
            self.stdout.write(text)
