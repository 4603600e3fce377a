"""DRF's JSON parser through kefu.jsonsafe. Its own module, free of rest_framework.views: DRF
imports DEFAULT_PARSER_CLASSES while its views module loads, so the parser cannot live in
kefu/api.py (which imports those views)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json as drf_json

from . import jsonsafe


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through kefu.jsonsafe: a body nested too deeply is a 400 like any
    other malformed JSON, not a RecursionError (500). The default parser of every API view."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        parse_constant = drf_json.strict_constant if self.strict else None
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return jsonsafe.loads(text, parse_constant=parse_constant)
        except ValueError as exc:  # UnicodeDecodeError and JSONError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from None
