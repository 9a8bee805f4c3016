"""Field formats every family shares."""

import json
import re
from datetime import UTC, datetime, timedelta

import orjson
from django.db.models import F, Func, TextField
from rest_framework import serializers

_ZERO = timedelta(0)


def json_scalars(value):
    """Every key and scalar inside a JSON value (dicts and lists walked, depth first, no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            yield item


def has_nul(value):
    """Whether a JSON value holds a NUL anywhere (PostgreSQL stores none in text or jsonb)."""
    if type(value) is str:
        return "\x00" in value  # the usual call, a single string: no walk
    return any(isinstance(item, str) and "\x00" in item for item in json_scalars(value))


def iso_z(value):
    """ISO 8601 in UTC with `Z`; fractional seconds only where stored (trailing zeros dropped)."""
    if value is None:
        return None
    if not (value.tzinfo is UTC or value.utcoffset() == _ZERO):
        value = value.astimezone(UTC)
    # isoformat, not strftime: three times faster (a page renders thousands), and its year always
    # has four digits (glibc's %Y writes 799 for 0799, which is no RFC 3339 date-time).
    text = value.isoformat()[:-6]  # without "+00:00"; the fraction only where there is one
    return (text.rstrip("0") if value.microsecond else text) + "Z"


# A timestamp column as PostgreSQL formats it in a raw-SQL page, to be finished by utc_text_z.
UTC_TEXT_SQL = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')"""


def utc_text_z(text):
    """iso_z of a timestamp given as UTC_TEXT_SQL's text: no datetime built for it."""
    if text is None:
        return None
    return text.rstrip("0").rstrip(".") + "Z"  # the fraction only where there is one


def utc_text(column):
    """UTC_TEXT_SQL of a timestamp column for an ORM query (PostgreSQL only)."""
    return Func(F(column), template=UTC_TEXT_SQL.format("%(expressions)s"), output_field=TextField())


def timestamp_z(value):
    """iso_z of a datetime, or of UTC_TEXT_SQL's text: for renderers fed by both kinds of query."""
    return utc_text_z(value) if type(value) is str else iso_z(value)


# An integer of 19 digits or more may be past 64 bits (below -2**63 at 19), where orjson reads a float.
_LONG_NUMBER = re.compile(r"[0-9]{19}")


def jsonb_text_value(text):
    """The value of a jsonb column read as text (``column::text``), as Django's JSONField reads
    it: orjson, five times faster than the json module, except where a number is too long for it."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. 1e400 spelled short: read as Django would
        return json.loads(text)
    # A string (most dialogue items), an integer orjson kept exact, true, false or null holds no
    # number orjson could have read as a float: the text is not searched (a seventh of a page).
    if value is None or type(value) in _NO_LOST_NUMBER:
        return value
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    return value


_NO_LOST_NUMBER = (str, int, bool)


def isoformat_z(value):
    """ISO 8601 in UTC with `Z` and Python's fraction (six digits where there is one): Flowdesk's
    own bodies (webhooks), which no vendor shapes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value):
    """A timestamp from an import or a request; naive values are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        if not text.isascii():
            raise ValueError("only ASCII digits are numbers")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Stored in UTC: PostgreSQL refuses offsets past ±15:59, and the API answers in UTC anyway.
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    if not datetime(1, 1, 2, tzinfo=UTC) <= parsed <= datetime(9999, 12, 30, tzinfo=UTC):
        raise ValueError("out of range")
    return parsed


class IsoZDateTimeField(serializers.DateTimeField):
    def to_representation(self, value):
        return iso_z(value)

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        try:
            return parse_iso(value)
        except ValueError:
            self.fail("invalid", format="ISO 8601")


class JSONObjectField(serializers.JSONField):
    """A JSON object (a dict), not any JSON value."""

    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField would turn 123 into "123".

    Whitespace is kept as sent, so values round-trip exactly.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false, not "yes", 1 or "on"."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, not "12" or 12.5."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number, not a numeric string."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)
