"""Rebuild report rollups: one merchant's date range, a merchant's whole history, or the
sweep (what beat runs)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from reports import rollup


class Command(BaseCommand):
    help = "Rebuild the report rollups (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", type=int, help="merchant id (default: the sweep)")
        parser.add_argument("--from", dest="start", type=dt.date.fromisoformat)
        parser.add_argument("--to", dest="end", type=dt.date.fromisoformat)

    def handle(self, *args, merchant=None, start=None, end=None, **options):
        if merchant is None:
            if start or end:
                raise CommandError("--from/--to need --merchant.")
            self.stdout.write(f"{rollup.rollup_sweep()} day(s) rebuilt")
            return
        if start is None and end is None:
            counted = rollup.merchant_rebuild(merchant_id=merchant)
        else:
            if start is None or end is None or end < start:
                raise CommandError("Give both --from and --to, --to not before --from.")
            counted = rollup.days_rollup(merchant_id=merchant, start=start, end=end)
        self.stdout.write(f"{counted} conversation(s) counted")
