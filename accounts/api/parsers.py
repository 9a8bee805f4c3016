import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from accounts.api.errors import PayloadTooLarge

# Deeper documents than this are refused: no legitimate body nests further, and deep
# nesting is a cheap way to make a server recurse.
MAX_DEPTH = 64


def _depth_ok(value, limit=MAX_DEPTH):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


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
        if not _depth_ok(data):
            raise ParseError(f"JSON is nested deeper than {MAX_DEPTH} levels.")
        return data
