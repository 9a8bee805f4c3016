import json
from operator import attrgetter

import orjson
from django.http import HttpResponse
from rest_framework.renderers import BaseRenderer


def dumps(data):
    # Non-string keys occur in user JSON (e.g. settings imported from numbers-as-keys sources).
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        # orjson writes no integer past 64 bits, and PostgreSQL's jsonb hands a stored 1.8e19 back as
        # one (found by schemathesis): the standard library writes it exactly.
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def json_response(data, status=200):
    return HttpResponse(dumps(data), status=status, content_type="application/json")


class ORJSONRenderer(BaseRenderer):
    """JSON through orjson: the list endpoints render thousands of nested objects a page."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return dumps(data)


class EventStreamRenderer(BaseRenderer):
    """Lets a client that accepts only `text/event-stream` reach a streaming view (errors stay JSON)."""

    media_type = "text/event-stream"
    format = "event-stream"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return dumps(data)


def column_reader(columns):
    """A model instance's values for ``.values_list(*columns)``, as a tuple in that order (``a__b``
    follows a relation, None where the relation is unset): one renderer then serves rows and
    instances alike. attrgetter does the work; only an unset relation takes the slow walk."""
    paths = [tuple(column.split("__")) for column in columns]
    fast = attrgetter(*(".".join(path) for path in paths))
    if len(columns) == 1:
        single = fast
        fast = lambda obj: (single(obj),)  # noqa: E731 - attrgetter answers one name unwrapped

    def walk(obj):
        row = []
        for path in paths:
            value = obj
            for name in path:
                value = getattr(value, name)
                if value is None:
                    break
            row.append(value)
        return tuple(row)

    def read(obj):
        try:
            return fast(obj)
        except AttributeError:  # None.<name>: an unset relation
            return walk(obj)

    return read


def only_fields(columns):
    """``.only()`` for rendering ``columns`` from instances: the columns and the relations they follow."""
    relations = {column.rsplit("__", 1)[0] for column in columns if "__" in column}
    return (*columns, *sorted(relations))
