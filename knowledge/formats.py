"""File formats of the knowledge base's import and export: CSV, JSON and XLSX read into rows
of cells, cell values parsed, records written back. What the rows mean (columns, validation,
writing to the database) is knowledge.importers.

CSV may be UTF-8 with or without a BOM, or GBK/GB18030 (what Excel saves on a Chinese Windows).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import zipfile
from collections.abc import Iterable

from django.utils import dateparse, timezone
from django.utils.translation import gettext as _

from kefu import jsonsafe
from kefu.errors import KefuError

FORMATS = ("csv", "json", "xlsx")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_XLSX_UNPACKED = 200 * 1024 * 1024  # a zip bomb stops here, before any XML is parsed
MAX_ROWS = 100_000
# Headers as Chinese spreadsheets often name them.
ALIASES = {
    "问题": "question",
    "标准问题": "question",
    "相似问题": "similar_questions",
    "相似问法": "similar_questions",
    "答案": "answer",
    "回答": "answer",
    "关键词": "keywords",
    "分类": "category",
    "启用": "enabled",
    "生效时间": "valid_from",
    "失效时间": "valid_until",
    "意图": "name",
    "名称": "name",
    "例句": "examples",
    "示例": "examples",
    "动作": "action",
    "槽位": "slots",
    "词": "word",
    "词语": "word",
    "同义词": "synonyms",
    "词频": "frequency",
    "文本": "text",
    "标签": "label",
}
TRUE = {"1", "true", "yes", "y", "是", "启用", "on"}
FALSE = {"0", "false", "no", "n", "否", "停用", "禁用", "off"}


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
        payload = jsonsafe.loads(text)
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
        item = dict(zip(_header(item.keys()), item.values()))
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


# --- Cell values -----------------------------------------------------------------------------------


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        raise ValueError(_("Must be text."))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def cell_bool(value, default=True) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    text = cell_text(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(_("Must be true or false (1/0, yes/no, 是/否)."))


def cell_int(value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(_("Must be a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = cell_text(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(_("Must be a whole number."))
    return int(text)


def cell_datetime(value, tz) -> datetime.datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, datetime.date):
        parsed = datetime.datetime.combine(value, datetime.time())
    else:
        text = cell_text(value).strip()
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


def cell_json_list(value):
    if value is None or isinstance(value, list):
        return value
    text = cell_text(value).strip()
    if not text:
        return []
    try:
        return jsonsafe.loads(text)
    except ValueError:
        raise ValueError(
            _('Must be a JSON list, e.g. [{"name": "order_no", "prompt": "…"}].')
        ) from None


# --- Writing ---------------------------------------------------------------------------------------

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def write_table(*, fmt: str, kind: str, columns: list[str], records: list[dict]) -> bytes:
    """Records (import-shaped dicts) as a file of `fmt`, `columns` in this order."""
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_cell(kind, c, record[c], escape=True) for c in columns])
        # With a BOM, so Excel opens the Chinese text as UTF-8.
        return out.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(kind)
        sheet.append(columns)
        for record in records:
            sheet.append(_xlsx_row(sheet, [_csv_cell(kind, c, record[c]) for c in columns]))
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
    raise KefuError("invalid", _("Unknown format."), field="format")


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
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cells = []
    for value in values:
        if isinstance(value, str):
            # XML 1.0 cannot hold most C0 control characters: openpyxl raises on them, and one
            # such entry made the whole merchant's export a 500. Drop them (only them): the
            # cell keeps everything else. Tab, line feed and carriage return are legal and kept.
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell = WriteOnlyCell(sheet, value)
        if isinstance(value, str):
            cell.data_type = "s"  # text stays text: openpyxl would make "=..." a formula
        cells.append(cell)
    return cells
