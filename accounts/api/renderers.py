import orjson
from django.http import HttpResponse
from rest_framework.renderers import BaseRenderer


def dumps(data):
    # Non-string keys occur in user JSON (e.g. settings imported from numbers-as-keys sources).
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


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
