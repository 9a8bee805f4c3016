"""Every user-sessions answer the test suite sees, checked against the vendor's schemas.

tests/sessions_app/schemas/ holds TutoriaLLM's zod schemas written out as JSON Schema. The autouse
fixture in tests/conftest.py wraps django.test.Client, so any test that gets an answer from a path
under /session has it checked here: a body the vendor's client would not accept fails the test.
"""

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from flowdesk.api.errors import family_for_path
from sessions_app.api.errors import USER_SESSIONS

SCHEMAS = Path(__file__).resolve().parent / "sessions_app" / "schemas"


def _load():
    resources = [Resource.from_contents(json.loads(path.read_text(encoding="utf-8"))) for path in SCHEMAS.glob("*.json")]
    registry = Registry().with_resources((resource.id(), resource) for resource in resources)
    return {
        Path(resource.id()).stem: Draft202012Validator(resource.contents, registry=registry)
        for resource in resources
    }


VALIDATORS = _load()
# How many answers were checked: lets a test see that the hook is in place.
checked = {"count": 0}


def _route(method, parts):
    """(schema, success status) of a user-sessions route; ``parts`` is the path after /session."""
    if not parts:
        return {"GET": ("session-list", 200)}.get(method)
    if parts == ["new"]:
        return {"POST": ("session-id", 200)}.get(method)
    if len(parts) == 1:
        return {"GET": ("session", 200), "PUT": ("session-id", 200), "DELETE": ("session-id", 200)}.get(method)
    if len(parts) == 2 and parts[0] == "resume":
        return {"POST": ("session-id", 200)}.get(method)
    if len(parts) == 2 and parts[1] == "dialogue":
        return {"POST": ("dialogue-item", 201)}.get(method)  # Flowdesk's own: answers the new item
    return None


def schema_name(method, path, status):
    """The schema of the answer to ``method path`` with ``status``; None when there is none to check."""
    if method in ("HEAD", "OPTIONS"):
        return None  # no body (HEAD), or DRF's own metadata (OPTIONS): not a vendor answer
    if status >= 400:
        return "error"
    route = _route(method, [part for part in path.split("/")[2:] if part])
    if route is None:
        raise AssertionError(f"{method} {path} answered {status}, but no user-sessions route answers that")
    name, expected = route
    if status != expected:
        raise AssertionError(f"{method} {path} answered {status}; the vendor answers {expected}")
    return name


def check(method, path, status, content_type, content):
    """Raise AssertionError unless the answer is one the vendor's schemas describe."""
    name = schema_name(method, path, status)
    if name is None:
        return
    if content_type != "application/json":
        raise AssertionError(f"{method} {path} answered {status} with Content-Type {content_type!r}, not JSON")
    body = json.loads(content)
    error = best_match(VALIDATORS[name].iter_errors(body))
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(body)"
        message = error.message if len(error.message) < 300 else error.message[:300] + "…"
        raise AssertionError(f"{method} {path} answered {status}, not the vendor's {name} schema: {where}: {message}")
    if name == "error" and body["error"]["status"] != status:
        raise AssertionError(f"{method} {path} answered {status} with an error body saying {body['error']['status']}")
    checked["count"] += 1


def check_response(response):
    """The hook: ``response`` is what django.test.Client returned."""
    path = response.request["PATH_INFO"]
    if family_for_path(path) != USER_SESSIONS:
        return
    if response.streaming:
        content = b"".join(response.streaming_content)
        response.streaming_content = [content]
    else:
        content = response.content
    check(response.request["REQUEST_METHOD"], path, response.status_code, response.get("Content-Type"), content)
