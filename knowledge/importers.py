"""Bulk import and export of the knowledge base: CSV, JSON and XLSX.

An import reads the whole file, validates every row (with the same rules as single writes,
knowledge.services.*_clean), and writes only if no row failed, in one transaction: a file is
imported whole or not at all. Errors name the row as the user sees it (CSV/XLSX: the row in
the sheet, the header being row 1; JSON: the item, counting from 1), the column and the reason.

CSV may be UTF-8 with or without a BOM, or GBK/GB18030 (what Excel saves on a Chinese Windows).
Intents also come as `text,label` pairs, one example per row (the format of public intent
datasets, used by `kb_eval`): the rows of a label become one intent.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import dateparse, timezone
from django.utils.translation import gettext as _

from kefu.errors import KefuError
from merchants.models import Merchant

from . import services
from .models import Category, DictionaryWord, Faq, Intent, Synonym
from .textutil import split_lines, split_list

KINDS = ("faqs", "intents", "synonyms", "dictionary")
FORMATS = ("csv", "json", "xlsx")
MODES = ("upsert", "replace")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_XLSX_UNPACKED = 200 * 1024 * 1024  # a zip bomb stops here, before any XML is parsed
MAX_ROWS = 100_000
MAX_ERRORS = 500  # reported; the count says how many there were
PROGRESS_EVERY = 500

COLUMNS = {
    "faqs": ["question", "similar_questions", "answer", "keywords", "category", "enabled",
             "valid_from", "valid_until"],
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
# Headers as Chinese spreadsheets often name them.
ALIASES = {
    "问题": "question", "标准问题": "question", "相似问题": "similar_questions",
    "相似问法": "similar_questions", "答案": "answer", "回答": "answer", "关键词": "keywords",
    "分类": "category", "启用": "enabled", "生效时间": "valid_from", "失效时间": "valid_until",
    "意图": "name", "名称": "name", "例句": "examples", "示例": "examples", "动作": "action",
    "槽位": "slots", "词": "word", "词语": "word", "同义词": "synonyms", "词频": "frequency",
    "文本": "text", "标签": "label",
}
MODELS = {"faqs": Faq, "intents": Intent, "synonyms": Synonym, "dictionary": DictionaryWord}
KEY = {"faqs": "question", "intents": "name", "synonyms": "word", "dictionary": "word"}
CLEAN = {
    "faqs": services.faq_clean, "intents": services.intent_clean,
    "synonyms": services.synonym_clean, "dictionary": services.dictionary_clean,
}
TRUE = {"1", "true", "yes", "y", "是", "启用", "on"}
FALSE = {"0", "false", "no", "n", "否", "停用", "禁用", "off"}


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
            "created": self.created, "updated": self.updated, "deleted": self.deleted,
            "unchanged": self.unchanged, "rows": self.rows, "error_count": self.error_count,
            "errors": [asdict(e) for e in self.errors],
        }


class FileError(Exception):
    """The file as a whole cannot be read (reported as row 0, field "file")."""


# --- Reading ---------------------------------------------------------------------------------------


def read_bytes(file) -> bytes:
    if isinstance(file, (bytes, bytearray)):
        data = bytes(file)
    elif isinstance(file, str) or hasattr(file, "__fspath__"):
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    else:
        data = file.read(MAX_FILE_BYTES + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise FileError(_("The file is larger than %(n)d MB.") % {"n": MAX_FILE_BYTES // 2**20})
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030, a superset of the GBK Excel writes."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileError(_("The file is neither UTF-8 nor GBK text."))


def _header(names) -> list[str]:
    out = []
    for name in names:
        name = "" if name is None else str(name).strip().lstrip("\ufeff")
        out.append(ALIASES.get(name, name.lower()))
    return out


def read_rows(fmt: str, data: bytes) -> tuple[list[str], list[tuple[int, dict]]]:
    """(columns, [(row number, {column: value})]); blank lines skipped."""
    if not data.strip():
        raise FileError(_("The file is empty."))
    if fmt == "csv":
        return _read_csv(decode_text(data))
    if fmt == "json":
        return _read_json(decode_text(data))
    if fmt == "xlsx":
        return _read_xlsx(data)
    raise FileError(_("Unknown format."))


def _rows_from_table(table: Iterable[tuple[int, list]]) -> tuple[list[str], list[tuple[int, dict]]]:
    iterator = iter(table)
    try:
        _number, first = next(iterator)
    except StopIteration:
        raise FileError(_("The file is empty.")) from None
    columns = _header(first)
    rows = []
    for number, values in iterator:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            raise FileError(_("More than %(n)d rows.") % {"n": MAX_ROWS})
        rows.append((number, {c: v for c, v in zip(columns, values) if c}))
    return columns, rows


def _read_csv(text: str):
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # Numbered as a spreadsheet shows them: a cell with line breaks is still one row.
        table = [
            (number, [_unescape_csv(v) for v in values]) for number, values in enumerate(reader, 1)
        ]
    except csv.Error as exc:
        raise FileError(_("Not a readable CSV file: %(error)s") % {"error": exc}) from None
    return _rows_from_table(table)


def _read_json(text: str):
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise FileError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
    if isinstance(payload, dict) and len(payload) == 1:
        payload = next(iter(payload.values()))  # {"faqs": [...]}
    if not isinstance(payload, list):
        raise FileError(_("JSON must be a list of objects."))
    if len(payload) > MAX_ROWS:
        raise FileError(_("More than %(n)d rows.") % {"n": MAX_ROWS})
    columns: list[str] = []
    rows = []
    for number, item in enumerate(payload, 1):
        if not isinstance(item, dict):
            raise FileError(_("Item %(n)d is not an object.") % {"n": number})
        item = {c: v for c, v in zip(_header(item.keys()), item.values())}
        for c in item:
            if c not in columns:
                columns.append(c)
        rows.append((number, item))
    return columns, rows


def _read_xlsx(data: bytes):
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_XLSX_UNPACKED:
                raise FileError(_("The spreadsheet is too large once unpacked."))
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except FileError:
        raise
    except Exception:  # noqa: BLE001 - zip, XML and openpyxl errors all mean "not an xlsx"
        raise FileError(_("Not a readable XLSX file.")) from None
    try:
        sheet = workbook.worksheets[0]
        table = (
            (number, list(values))
            for number, values in enumerate(sheet.iter_rows(values_only=True), 1)
        )
        return _rows_from_table(table)
    except FileError:
        raise
    except Exception:  # noqa: BLE001
        raise FileError(_("Not a readable XLSX file.")) from None
    finally:
        workbook.close()


# --- Cell values -----------------------------------------------------------------------------------


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        raise ValueError(_("Must be text."))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def _cell_bool(value, default=True) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    text = _cell_text(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(_("Must be true or false (1/0, yes/no, 是/否)."))


def _cell_int(value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(_("Must be a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = _cell_text(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(_("Must be a whole number."))
    return int(text)


def _cell_datetime(value, tz) -> datetime.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, datetime.date):
        parsed = datetime.datetime.combine(value, datetime.time())
    else:
        text = _cell_text(value).strip()
        try:
            parsed = dateparse.parse_datetime(text.replace("/", "-"))
            if parsed is None:
                day = dateparse.parse_date(text.replace("/", "-"))
                parsed = datetime.datetime.combine(day, datetime.time()) if day else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(_("Not a date: use 2026-01-31 or 2026-01-31 18:00."))
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, tz)  # the merchant's local time
    return parsed


def _cell_json_list(value):
    if value is None or isinstance(value, list):
        return value
    text = _cell_text(value).strip()
    if not text:
        return []
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(_("Must be a JSON list, e.g. [{\"name\": \"order_no\", \"prompt\": \"…\"}].")) \
            from None


# --- Row -> values ----------------------------------------------------------------------------------


def _faq_values(row: dict, tz) -> dict:
    return {
        "question": _field(row, "question", _cell_text),
        "similar_questions": row.get("similar_questions") if isinstance(row.get("similar_questions"), list)
        else _field(row, "similar_questions", _cell_text),
        "answer": _field(row, "answer", _cell_text),
        "keywords": row.get("keywords") if isinstance(row.get("keywords"), list)
        else _field(row, "keywords", _cell_text),
        "is_enabled": _field(row, "enabled", lambda v: _cell_bool(v)),
        "valid_from": _field(row, "valid_from", lambda v: _cell_datetime(v, tz)),
        "valid_until": _field(row, "valid_until", lambda v: _cell_datetime(v, tz)),
    }


def _intent_values(row: dict, tz) -> dict:
    return {
        "name": _field(row, "name", _cell_text),
        "examples": row.get("examples") if isinstance(row.get("examples"), list)
        else _field(row, "examples", _cell_text),
        "answer": _field(row, "answer", _cell_text),
        "action": _field(row, "action", _cell_text).strip().lower() or Intent.Action.ANSWER,
        "slots": _field(row, "slots", _cell_json_list),
        "is_enabled": _field(row, "enabled", lambda v: _cell_bool(v)),
    }


def _synonym_values(row: dict, tz) -> dict:
    value = row.get("synonyms")
    return {"word": _field(row, "word", _cell_text),
            "synonyms": value if isinstance(value, list) else _field(row, "synonyms", _cell_text)}


def _dictionary_values(row: dict, tz) -> dict:
    return {"word": _field(row, "word", _cell_text),
            "frequency": _field(row, "frequency", _cell_int)}


ROW_VALUES = {"faqs": _faq_values, "intents": _intent_values, "synonyms": _synonym_values,
              "dictionary": _dictionary_values}


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


def validate(*, merchant: Merchant, kind: str, columns: list[str], rows: list[tuple[int, dict]],
             result: ImportResult, progress: Callable[[int, int], None] | None = None) -> list[_Record]:
    tz = _merchant_tz(merchant)
    pairs = kind == "intents" and PAIR_COLUMNS <= set(columns) and "name" not in columns
    if not pairs:
        missing = REQUIRED[kind] - set(columns)
        if missing:
            hint = _(" (or text,label pairs)") if kind == "intents" else ""
            result.add_error(1, "file", _("Missing columns: %(cols)s%(hint)s.") % {
                "cols": ", ".join(sorted(missing)), "hint": hint})
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
                category = _field(row, "category", _cell_text).strip() or None
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
    fields = {"faqs": services.FAQ_FIELDS, "intents": services.INTENT_FIELDS,
              "synonyms": services.SYNONYM_FIELDS, "dictionary": services.DICTIONARY_FIELDS}[kind]
    return {name for name in fields if COLUMN_OF.get(name, name) in columns}


def _group_pairs(rows, result: ImportResult) -> list[tuple[int, dict]]:
    """`text,label` rows -> one {"name", "examples"} row per label, numbered by its first row."""
    groups: dict[str, tuple[int, list[str]]] = {}
    for number, row in rows:
        try:
            text = _field(row, "text", _cell_text).strip()
            label = _field(row, "label", _cell_text).strip()
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
    return [(number, {"name": label, "examples": texts}) for label, (number, texts) in groups.items()]


def _merchant_tz(merchant: Merchant):
    try:
        return ZoneInfo(merchant.timezone) if getattr(merchant, "timezone", "") else timezone.get_current_timezone()
    except Exception:  # noqa: BLE001 - a bad zone name falls back to the site's
        return timezone.get_current_timezone()


# --- Writing ----------------------------------------------------------------------------------------


def apply(*, merchant: Merchant, kind: str, mode: str, records: list[_Record],
          result: ImportResult) -> None:
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
        fields = {name for name in record.present
                  if name in values and getattr(obj, name) != values[name]}
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
        result.deleted = model.objects.filter(merchant_id=merchant.pk, pk__in=stale).delete()[0] \
            if stale else 0
    services.kb_changed(merchant_id=merchant.pk)


def _categories(merchant: Merchant, records: list[_Record]) -> dict[str, int]:
    names = {r.category for r in records if r.category}
    found = dict(Category.objects.filter(merchant_id=merchant.pk, name__in=names).values_list("name", "pk"))
    missing = [Category(merchant_id=merchant.pk, name=name) for name in sorted(names - set(found))]
    Category.objects.bulk_create(missing)
    if missing:
        found = dict(
            Category.objects.filter(merchant_id=merchant.pk, name__in=names).values_list("name", "pk")
        )
    return found


def run_import(*, merchant: Merchant, kind: str, fmt: str, data: bytes, mode: str = "upsert",
               progress: Callable[[int, int], None] | None = None,
               before_write: Callable[[], None] | None = None) -> ImportResult:
    result = ImportResult()
    try:
        columns, rows = read_rows(fmt, data)
    except FileError as exc:
        result.add_error(0, "file", str(exc))
        return result
    result.rows = len(rows)
    records = validate(merchant=merchant, kind=kind, columns=columns, rows=rows, result=result,
                       progress=progress)
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


def count_rows(fmt: str, data: bytes) -> int:
    """About how many rows the file has, cheaply (the request decides with it whether to import
    now or in the worker): lines of a CSV (a cell with line breaks counts more), the sheet's
    recorded size for XLSX, items for JSON. 0 when unreadable: the import reports why."""
    try:
        if fmt == "csv":
            return max(data.count(b"\n") + (not data.endswith(b"\n")) - 1, 0)
        if fmt == "xlsx":
            from openpyxl import load_workbook

            workbook = load_workbook(io.BytesIO(data), read_only=True)
            try:
                return max((workbook.worksheets[0].max_row or 0) - 1, 0)
            finally:
                workbook.close()
        return len(read_rows(fmt, data)[1])
    except Exception:  # noqa: BLE001 - unreadable: imported inline, which reports why
        return 0


# --- Export ----------------------------------------------------------------------------------------

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_records(*, merchant: Merchant, kind: str) -> list[dict]:
    """The merchant's rows as import-shaped dicts (lists as lists, dates as ISO text)."""
    tz = _merchant_tz(merchant)

    def when(value):
        return timezone.localtime(value, tz).isoformat() if value else None

    if kind == "faqs":
        return [
            {"question": f.question, "similar_questions": split_lines(f.similar_questions),
             "answer": f.answer, "keywords": split_list(f.keywords),
             "category": f.category.name if f.category else "", "enabled": f.is_enabled,
             "valid_from": when(f.valid_from), "valid_until": when(f.valid_until)}
            for f in Faq.objects.filter(merchant_id=merchant.pk).select_related("category").order_by("pk")
        ]
    if kind == "intents":
        return [
            {"name": i.name, "examples": split_lines(i.examples), "answer": i.answer,
             "action": i.action, "slots": i.slots, "enabled": i.is_enabled}
            for i in Intent.objects.filter(merchant_id=merchant.pk).order_by("pk")
        ]
    if kind == "synonyms":
        return [{"word": s.word, "synonyms": split_list(s.synonyms)}
                for s in Synonym.objects.filter(merchant_id=merchant.pk).order_by("pk")]
    return [{"word": w.word, "frequency": w.frequency}
            for w in DictionaryWord.objects.filter(merchant_id=merchant.pk).order_by("pk")]


def _flat(value) -> str | int | None:
    """A cell: lists one per line (keywords and synonyms comma separated), slots as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return json.dumps(value, ensure_ascii=False)
        return "\n".join(value)
    if value is None:
        return ""
    return value


def export(*, merchant: Merchant, kind: str, fmt: str) -> tuple[str, str, bytes]:
    """(filename, content type, bytes)."""
    records = export_records(merchant=merchant, kind=kind)
    columns = COLUMNS[kind]
    if fmt == "json":
        body = json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_cell(kind, c, record[c], escape=True) for c in columns])
        # With a BOM, so Excel opens the Chinese text as UTF-8.
        body = out.getvalue().encode("utf-8-sig")
    elif fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(kind)
        sheet.append(columns)
        for record in records:
            sheet.append(_xlsx_row(sheet, [_csv_cell(kind, c, record[c]) for c in columns]))
        out = io.BytesIO()
        workbook.save(out)
        body = out.getvalue()
    else:
        raise KefuError("invalid", _("Unknown format."), field="format")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return f"kb-{kind}-{stamp}.{fmt}", CONTENT_TYPES[fmt], body


# A cell starting with one of these is a formula to Excel (CSV injection): CSV export prefixes
# it with an apostrophe, which Excel hides, and CSV import takes the apostrophe off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(kind: str, column: str, value, *, escape: bool = False):
    if isinstance(value, list) and column in ("keywords", "synonyms"):
        value = ", ".join(value)
    value = _flat(value)
    if escape and isinstance(value, str) and value.startswith(FORMULA_START):
        value = "'" + value
    return value


def _unescape_csv(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _xlsx_row(sheet, values: list) -> list:
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value)
        if isinstance(value, str):
            cell.data_type = "s"  # text stays text: openpyxl would make "=..." a formula
        cells.append(cell)
    return cells
