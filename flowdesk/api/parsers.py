import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser

from flowdesk.api.errors import PayloadTooLarge

# Deeper documents than this are refused: no legitimate body nests further, and deep
# nesting is a cheap way to make a server recurse.
MAX_DEPTH = 64


def _problem(value, limit=MAX_DEPTH):
    """Why a parsed document is refused, or None: too deep, or a NUL character in a string.

    PostgreSQL can store neither a NUL in text nor \u0000 in jsonb, so such a string would
    otherwise fail deep inside the database layer.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return f"JSON is nested deeper than {limit} levels."
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return "JSON strings must not contain NUL (\\u0000) characters."
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and "\x00" in item:
            return "JSON strings must not contain NUL (\\u0000) characters."
    return None


class StrictJSONParser(BaseParser):
    """JSON bodies, bounded in size and depth; NaN, Infinity and bad UTF-8 are refused."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if stream is None:
            return {}
        # DRF hands us the raw stream, past Django's own size check: enforce it here.
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        if not raw.strip():
            raise ParseError("Request body is empty; a JSON document was expected.")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
        problem = _problem(data)
        if problem:
            raise ParseError(problem)
        return data


class ContentNegotiation(DefaultContentNegotiation):
    """A body sent without a Content-Type header is read as JSON, as FastAPI reads it.

    The vendors' clients rely on it (the TrueState SDK sends none). Any other type still gets the
    family's 415; flowdesk/devserver.py keeps the development server from inventing `text/plain`.
    """

    def select_parser(self, request, parsers):
        if not request.content_type:
            for parser in parsers:
                if parser.media_type == "application/json":
                    return parser
        return super().select_parser(request, parsers)
