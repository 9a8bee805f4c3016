"""Building blocks of the imports' fast validation paths.

Each family's import first checks a record in plain Python, accepting only what its DRF
serializer would accept and returning the same data; any doubt raises ``NotSure`` and the
serializer decides (and words the error). These checks mirror the strict fields of
flowdesk/api/fields.py.
"""

import math
from datetime import UTC, datetime

from flowdesk.api.fields import json_scalars, parse_iso

EARLIEST, LATEST = datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)


class NotSure(Exception):
    """The record needs the serializer (it may be invalid)."""


def text(value, max_length=None, blank=True, null=False):
    """StrictCharField: a str within max_length, with no NUL and no lone surrogate."""
    if value is None and null:
        return None
    if type(value) is not str or (max_length is not None and len(value) > max_length) or (not blank and not value):
        raise NotSure
    if "\x00" in value:
        raise NotSure
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise NotSure from None  # a lone surrogate
    return value


def choice(value, choices):
    if type(value) is not str or value not in choices:
        raise NotSure
    return value


def when(value):
    """IsoZDateTimeField: the usual `...Z` form read directly, anything else through parse_iso."""
    if type(value) is not str:
        raise NotSure
    if value[-1:] == "Z":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC and EARLIEST <= parsed <= LATEST:
            return parsed
    try:
        return parse_iso(value)
    except ValueError:
        raise NotSure from None


def no_nul_in_json(dumped):
    """The JSON bytes orjson wrote for a value hold no NUL (escaped as \\u0000 there; a false match,
    an escaped backslash before "u0000", only asks the serializer): far cheaper than walking the value."""
    if b"\\u0000" in dumped:
        raise NotSure


def finite_json(value, dumped):
    """DRF's JSONField refuses NaN and infinities (json.dumps(allow_nan=False)); orjson wrote them
    as null in ``dumped``, so only a value whose bytes hold a null needs the walk."""
    if b"null" in dumped and not all(math.isfinite(item) for item in json_scalars(value) if type(item) is float):
        raise NotSure
