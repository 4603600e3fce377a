"""Bulk import and export of the knowledge base, and the import jobs the worker runs.

An import reads the whole file (knowledge.formats: CSV, JSON, XLSX), validates every row (with
the same rules as single writes, knowledge.services.*_clean), and writes only if no row failed,
in one transaction: a file is imported whole or not at all. Errors name the row as the user sees
it (CSV/XLSX: the row in the sheet, the header being row 1; JSON: the item, counting from 1),
the column and the reason. A file of more than KB_IMPORT_INLINE_MAX_ROWS rows becomes an
ImportJob run by the worker (knowledge.tasks.kb_import_task).

Intents also come as `text,label` pairs, one example per row (the format of public intent
datasets, used by `kb_eval`): the rows of a label become one intent.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import KefuError
from merchants.models import Merchant

from . import formats, services
from .models import Category, DictionaryWord, Faq, ImportJob, Intent, Synonym
from .textutil import split_lines, split_list
from .training import kb_changed

log = logging.getLogger(__name__)

KINDS = ("faqs", "intents", "synonyms", "dictionary")
MODES = ("upsert", "replace")
MAX_ERRORS = 500  # reported; the count says how many there were
PROGRESS_EVERY = 500
# Queued by name (knowledge/tasks.py imports this module, not the other way round).
IMPORT_TASK = "knowledge.tasks.kb_import_task"

COLUMNS = {
    "faqs": [
        "question",
        "similar_questions",
        "answer",
        "keywords",
        "category",
        "enabled",
        "valid_from",
        "valid_until",
    ],
    "intents": ["name", "examples", "answer", "action", "slots", "enabled"],
    "synonyms": ["word", "synonyms"],
    "dictionary": ["word", "frequency"],
}
REQUIRED = {
    "faqs": {"question", "answer"},
    "intents": {"name", "examples"},
    "synonyms": {"word", "synonyms"},
    "dictionary": {"word"},
}
PAIR_COLUMNS = {"text", "label"}
MODELS = {"faqs": Faq, "intents": Intent, "synonyms": Synonym, "dictionary": DictionaryWord}
KEY = {"faqs": "question", "intents": "name", "synonyms": "word", "dictionary": "word"}
CLEAN = {
    "faqs": services.faq_clean,
    "intents": services.intent_clean,
    "synonyms": services.synonym_clean,
    "dictionary": services.dictionary_clean,
}


@dataclass
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.error_count

    def add_error(self, row: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(row, field_name, str(message)))

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "rows": self.rows,
            "error_count": self.error_count,
            "errors": [asdict(e) for e in self.errors],
        }


# --- Row -> values ----------------------------------------------------------------------------------


def _faq_values(row: dict, tz) -> dict:
    return {
        "question": _field(row, "question", formats.cell_text),
        "similar_questions": row.get("similar_questions")
        if isinstance(row.get("similar_questions"), list)
        else _field(row, "similar_questions", formats.cell_text),
        "answer": _field(row, "answer", formats.cell_text),
        "keywords": row.get("keywords")
        if isinstance(row.get("keywords"), list)
        else _field(row, "keywords", formats.cell_text),
        "is_enabled": _field(row, "enabled", lambda v: formats.cell_bool(v)),
        "valid_from": _field(row, "valid_from", lambda v: formats.cell_datetime(v, tz)),
        "valid_until": _field(row, "valid_until", lambda v: formats.cell_datetime(v, tz)),
    }


def _intent_values(row: dict, tz) -> dict:
    return {
        "name": _field(row, "name", formats.cell_text),
        "examples": row.get("examples")
        if isinstance(row.get("examples"), list)
        else _field(row, "examples", formats.cell_text),
        "answer": _field(row, "answer", formats.cell_text),
        "action": _field(row, "action", formats.cell_text).strip().lower() or Intent.Action.ANSWER,
        "slots": _field(row, "slots", formats.cell_json_list),
        "is_enabled": _field(row, "enabled", lambda v: formats.cell_bool(v)),
    }


def _synonym_values(row: dict, tz) -> dict:
    value = row.get("synonyms")
    return {
        "word": _field(row, "word", formats.cell_text),
        "synonyms": value
        if isinstance(value, list)
        else _field(row, "synonyms", formats.cell_text),
    }


def _dictionary_values(row: dict, tz) -> dict:
    return {
        "word": _field(row, "word", formats.cell_text),
        "frequency": _field(row, "frequency", formats.cell_int),
    }


ROW_VALUES = {
    "faqs": _faq_values,
    "intents": _intent_values,
    "synonyms": _synonym_values,
    "dictionary": _dictionary_values,
}


class _CellError(Exception):
    def __init__(self, field_name, message):
        super().__init__(message)
        self.field = field_name
        self.message = message


def _field(row: dict, name: str, parse: Callable):
    try:
        return parse(row.get(name))
    except ValueError as exc:
        raise _CellError(name, str(exc)) from None


# Model field -> the column that carries it (for error messages and partial updates).
COLUMN_OF = {"is_enabled": "enabled", "category_id": "category"}
# In a text,label file the intent's name comes from `label` and its examples from `text`.
PAIR_COLUMN_OF = {"name": "label", "examples": "text"}


@dataclass
class _Record:
    row: int
    key: str
    values: dict
    present: set[str]
    category: str | None = None


def validate(
    *,
    merchant: Merchant,
    kind: str,
    columns: list[str],
    rows: list[tuple[int, dict]],
    result: ImportResult,
    progress: Callable[[int, int], None] | None = None,
) -> list[_Record]:
    tz = _merchant_tz(merchant)
    pairs = kind == "intents" and set(columns) >= PAIR_COLUMNS and "name" not in columns
    if not pairs:
        missing = REQUIRED[kind] - set(columns)
        if missing:
            hint = _(" (or text,label pairs)") if kind == "intents" else ""
            result.add_error(
                1,
                "file",
                _("Missing columns: %(cols)s%(hint)s.")
                % {"cols": ", ".join(sorted(missing)), "hint": hint},
            )
            return []
    if pairs:
        rows = _group_pairs(rows, result)
    records, seen = [], {}
    present = _present_fields(kind, columns, pairs)
    for done, (number, row) in enumerate(rows, 1):
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, len(rows))
        try:
            values = ROW_VALUES[kind](row, tz)
            cleaned = CLEAN[kind](merchant_id=merchant.pk, values=values, db=False)
            category = None
            if kind == "faqs" and "category" in columns:
                category = _field(row, "category", formats.cell_text).strip() or None
                if category and len(category) > 100:
                    raise _CellError("category", _("At most %(n)d characters.") % {"n": 100})
        except _CellError as exc:
            result.add_error(number, exc.field, exc.message)
            continue
        except KefuError as exc:
            column = (PAIR_COLUMN_OF if pairs else COLUMN_OF).get(exc.field, exc.field or "")
            result.add_error(number, column, exc.message)
            continue
        key = cleaned[KEY[kind]]
        if key in seen:
            result.add_error(number, KEY[kind], _("Repeats row %(n)d.") % {"n": seen[key]})
            continue
        seen[key] = number
        records.append(_Record(number, key, cleaned, present, category))
    if progress:
        progress(len(rows), len(rows))
    result.errors.sort(key=lambda e: e.row)  # pair files report cell errors before grouping
    return records


def _present_fields(kind: str, columns: list[str], pairs: bool) -> set[str]:
    if pairs:
        return {"examples"}  # an existing intent keeps its answer, action and slots
    fields = {
        "faqs": services.FAQ_FIELDS,
        "intents": services.INTENT_FIELDS,
        "synonyms": services.SYNONYM_FIELDS,
        "dictionary": services.DICTIONARY_FIELDS,
    }[kind]
    return {name for name in fields if COLUMN_OF.get(name, name) in columns}


def _group_pairs(rows, result: ImportResult) -> list[tuple[int, dict]]:
    """`text,label` rows -> one {"name", "examples"} row per label, numbered by its first row."""
    groups: dict[str, tuple[int, list[str]]] = {}
    for number, row in rows:
        try:
            text = _field(row, "text", formats.cell_text).strip()
            label = _field(row, "label", formats.cell_text).strip()
        except _CellError as exc:
            result.add_error(number, exc.field, exc.message)
            continue
        if not text:
            result.add_error(number, "text", _("This field is required."))
            continue
        if not label:
            result.add_error(number, "label", _("This field is required."))
            continue
        groups.setdefault(label, (number, []))[1].append(text)
    return [
        (number, {"name": label, "examples": texts}) for label, (number, texts) in groups.items()
    ]


def _merchant_tz(merchant: Merchant):
    try:
        return (
            ZoneInfo(merchant.timezone)
            if getattr(merchant, "timezone", "")
            else timezone.get_current_timezone()
        )
    except Exception:  # noqa: BLE001 - a bad zone name falls back to the site's
        return timezone.get_current_timezone()


# --- Writing ----------------------------------------------------------------------------------------


def apply(
    *, merchant: Merchant, kind: str, mode: str, records: list[_Record], result: ImportResult
) -> None:
    """Write validated records in one transaction (the caller's)."""
    model = MODELS[kind]
    key = KEY[kind]
    # One import at a time per merchant, so two imports of the same file cannot both create.
    Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk", flat=True).get()
    existing = {}
    for obj in model.objects.filter(merchant_id=merchant.pk).order_by("pk"):
        existing.setdefault(getattr(obj, key), obj)
    categories = {}
    if kind == "faqs":
        categories = _categories(merchant, records)
    now = timezone.now()
    to_create, to_update, update_fields = [], [], set()
    for record in records:
        values = dict(record.values)
        if kind == "faqs":
            values["category_id"] = categories.get(record.category) if record.category else None
        obj = existing.get(record.key)
        if obj is None:
            to_create.append(model(merchant_id=merchant.pk, **values))
            continue
        # Only what differs: re-importing an exported file rewrites nothing.
        fields = {
            name for name in record.present if name in values and getattr(obj, name) != values[name]
        }
        if not fields:
            result.unchanged += 1
            continue
        for name in fields:
            setattr(obj, name, values[name])
        if hasattr(obj, "updated_at"):
            obj.updated_at = now
            fields.add("updated_at")
        update_fields |= fields
        to_update.append(obj)
    model.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        # Small batches: each is one UPDATE with a CASE per field, which grows with the batch.
        model.objects.bulk_update(to_update, sorted(update_fields), batch_size=100)
    result.created, result.updated = len(to_create), len(to_update)
    if mode == "replace":
        keep = {record.key for record in records}
        stale = [obj.pk for k, obj in existing.items() if k not in keep]
        result.deleted = (
            model.objects.filter(merchant_id=merchant.pk, pk__in=stale).delete()[0] if stale else 0
        )
    kb_changed(merchant_id=merchant.pk)


def _categories(merchant: Merchant, records: list[_Record]) -> dict[str, int]:
    names = {r.category for r in records if r.category}
    found = dict(
        Category.objects.filter(merchant_id=merchant.pk, name__in=names).values_list("name", "pk")
    )
    missing = [Category(merchant_id=merchant.pk, name=name) for name in sorted(names - set(found))]
    Category.objects.bulk_create(missing)
    if missing:
        found = dict(
            Category.objects.filter(merchant_id=merchant.pk, name__in=names).values_list(
                "name", "pk"
            )
        )
    return found


def run_import(
    *,
    merchant: Merchant,
    kind: str,
    fmt: str,
    data: bytes,
    mode: str = "upsert",
    progress: Callable[[int, int], None] | None = None,
    before_write: Callable[[], None] | None = None,
) -> ImportResult:
    result = ImportResult()
    try:
        columns, rows = formats.read_rows(fmt, data)
    except formats.FileError as exc:
        result.add_error(0, "file", str(exc))
        return result
    result.rows = len(rows)
    records = validate(
        merchant=merchant, kind=kind, columns=columns, rows=rows, result=result, progress=progress
    )
    if not result.ok:
        return result
    if before_write:
        before_write()
    try:
        with transaction.atomic():
            apply(merchant=merchant, kind=kind, mode=mode, records=records, result=result)
    except IntegrityError:
        # A row with the same name was saved by someone else while this file was checked.
        result.created = result.updated = result.deleted = result.unchanged = 0
        result.add_error(0, "file", _("The knowledge base changed during the import; try again."))
    return result


# --- Export ----------------------------------------------------------------------------------------


def export_records(*, merchant: Merchant, kind: str) -> list[dict]:
    """The merchant's rows as import-shaped dicts (lists as lists, dates as ISO text)."""
    tz = _merchant_tz(merchant)

    def when(value):
        return timezone.localtime(value, tz).isoformat() if value else None

    if kind == "faqs":
        return [
            {
                "question": f.question,
                "similar_questions": split_lines(f.similar_questions),
                "answer": f.answer,
                "keywords": split_list(f.keywords),
                "category": f.category.name if f.category else "",
                "enabled": f.is_enabled,
                "valid_from": when(f.valid_from),
                "valid_until": when(f.valid_until),
            }
            for f in Faq.objects.filter(merchant_id=merchant.pk)
            .select_related("category")
            .order_by("pk")
        ]
    if kind == "intents":
        return [
            {
                "name": i.name,
                "examples": split_lines(i.examples),
                "answer": i.answer,
                "action": i.action,
                "slots": i.slots,
                "enabled": i.is_enabled,
            }
            for i in Intent.objects.filter(merchant_id=merchant.pk).order_by("pk")
        ]
    if kind == "synonyms":
        return [
            {"word": s.word, "synonyms": split_list(s.synonyms)}
            for s in Synonym.objects.filter(merchant_id=merchant.pk).order_by("pk")
        ]
    return [
        {"word": w.word, "frequency": w.frequency}
        for w in DictionaryWord.objects.filter(merchant_id=merchant.pk).order_by("pk")
    ]


def export(*, merchant: Merchant, kind: str, fmt: str) -> tuple[str, str, bytes]:
    """(filename, content type, bytes)."""
    body = formats.write_table(
        fmt=fmt,
        kind=kind,
        columns=COLUMNS[kind],
        records=export_records(merchant=merchant, kind=kind),
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return f"kb-{kind}-{stamp}.{fmt}", formats.CONTENT_TYPES[fmt], body


# --- Import jobs (what the admin, the API and the worker call) ------------------------------


def _import_args(kind: str, fmt: str, mode: str) -> None:
    for name, value, allowed in (
        ("kind", kind, KINDS),
        ("format", fmt, formats.FORMATS),
        ("mode", mode, MODES),
    ):
        if value not in allowed:
            raise KefuError(
                "invalid", _("One of: %(choices)s.") % {"choices": ", ".join(allowed)}, field=name
            )


def kb_import(
    *,
    merchant: Merchant,
    kind: str,
    fmt: str,
    file,
    mode: str = "upsert",
    progress=None,
    before_write=None,
):
    """Import a file of FAQ entries, intents, synonyms or dictionary words now (see the module
    docstring). Returns an ImportResult: counts, or per-row errors and nothing written. `file`:
    bytes, a path or a binary file object."""
    _import_args(kind, fmt, mode)
    try:
        data = formats.read_bytes(file)
    except formats.FileError as exc:
        result = ImportResult()
        result.add_error(0, "file", str(exc))
        return result
    return run_import(
        merchant=merchant,
        kind=kind,
        fmt=fmt,
        data=data,
        mode=mode,
        progress=progress,
        before_write=before_write,
    )


def kb_import_submit(
    *, merchant: Merchant, kind: str, fmt: str, file, mode: str = "upsert", filename: str = ""
):
    """What the admin and the API call: a file of up to KB_IMPORT_INLINE_MAX_ROWS rows is
    imported now (returns an ImportResult); a larger one becomes an ImportJob run by the worker,
    whose progress the caller shows (returns the job)."""
    _import_args(kind, fmt, mode)
    try:
        data = formats.read_bytes(file)
    except formats.FileError as exc:
        result = ImportResult()
        result.add_error(0, "file", str(exc))
        return result
    if formats.count_rows(fmt, data) <= settings.KB_IMPORT_INLINE_MAX_ROWS:
        return run_import(merchant=merchant, kind=kind, fmt=fmt, data=data, mode=mode)
    # Finished jobs keep only their result; a week of them is plenty for the progress pages.
    ImportJob.objects.filter(
        merchant_id=merchant.pk, created_at__lt=timezone.now() - datetime.timedelta(days=7)
    ).delete()
    with transaction.atomic():
        job = ImportJob.objects.create(
            merchant_id=merchant.pk,
            kind=kind,
            fmt=fmt,
            mode=mode,
            filename=filename[:255],
            data=data,
        )
        transaction.on_commit(lambda: _queue_import(job.pk))
    return job


def _queue_import(job_id: int) -> None:
    try:
        current_app.tasks[IMPORT_TASK].apply_async(kwargs={"job_id": job_id})
    except Exception:
        log.exception("could not queue KB import %s", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED,
            finished_at=timezone.now(),
            result={
                "created": 0,
                "updated": 0,
                "deleted": 0,
                "rows": 0,
                "error_count": 1,
                "errors": [
                    {
                        "row": 0,
                        "field": "file",
                        "message": _("The import could not be queued; try again."),
                    }
                ],
            },
        )


def kb_import_job_run(*, job_id: int):
    """Run a queued import job (the worker's side). Progress is written to the job row during
    validation, before the import's own transaction starts, so the progress page sees it."""
    # Claim it: a task delivered twice (acks_late after a worker restart) must not import twice.
    if not ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.VALIDATING
    ):
        return None
    job = ImportJob.objects.select_related("merchant").get(pk=job_id)

    def progress(done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(done_rows=done, total_rows=total)

    def before_write() -> None:
        ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.WRITING)

    try:
        result = run_import(
            merchant=job.merchant,
            kind=job.kind,
            fmt=job.fmt,
            data=bytes(job.data),
            mode=job.mode,
            progress=progress,
            before_write=before_write,
        )
        outcome = result.as_dict()
        status = ImportJob.Status.DONE if result.ok else ImportJob.Status.FAILED
    except Exception:
        log.exception("KB import %s failed", job_id)
        outcome = {
            "created": 0,
            "updated": 0,
            "deleted": 0,
            "rows": 0,
            "error_count": 1,
            "errors": [{"row": 0, "field": "file", "message": _("The import failed.")}],
        }
        status = ImportJob.Status.FAILED
    ImportJob.objects.filter(pk=job_id).update(
        status=status, result=outcome, data=b"", finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
