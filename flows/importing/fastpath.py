"""The live-flows import's fast path.

Every session of a version repeats the whole version (steps, transitions) and nests the full
step in each recorded step: through DRF that is 43 nested serializers and ~260 field
validations a record, most of an import's time. SessionValidator validates each version once
(remembered by id and exact bytes), takes a recorded step's `step` from it when identical, and
checks the other fields in plain Python, accepting only what the serializer accepts and
returning what it returns. Anything it cannot vouch for goes to ImportSessionSerializer, which
stays the authority and words every error (field paths and messages as before).
tests/flows/test_fast_validation.py holds the two to each other.
"""

import uuid
from functools import partial

import orjson

from flowdesk.importing.command import serializer_errors
from flowdesk.importing.fastcheck import NotSure, finite_json, text, when
from flows.importing.serializers import ImportSessionSerializer
from flows.models import SessionStatus

_nullable_text = partial(text, null=True)  # StrictCharField(allow_null=True, allow_blank=True)
_STATUSES = frozenset(SessionStatus.values)
_MISSING = object()


def _uuid(value):
    """UUIDField: a UUID string. uuid.UUID raises for anything else (ints go to the serializer,
    which takes them too)."""
    return uuid.UUID(value)


def _json(value):
    """JSONField. What orjson refuses (depth past 255, ints past 64 bits) goes to the serializer."""
    if value is not None:
        finite_json(value, orjson.dumps(value))
    return value


def _status(value):
    """ChoiceField of SessionStatus (fastcheck.choice, without a call for each of a record's dozen)."""
    if type(value) is not str or value not in _STATUSES:
        raise NotSure
    return value


class SessionValidator:
    """ImportSessionSerializer's validated data for a record, fast for the usual records."""

    MAX_VERSIONS = 1000  # remembered at once; a file naming more is validated all the same

    def __init__(self):
        self.serializer = ImportSessionSerializer()
        self.version_field = self.serializer.fields["flow_version"]
        self.step_field = self.serializer.fields["steps"].child.fields["step"]
        # version id as written -> (bytes, raw, validated, raw steps by id, validated steps by id, step ids)
        self.versions = {}

    def __call__(self, record):
        data = self.try_fast(record)
        return data if data is not None else serializer_errors(ImportSessionSerializer, record)

    def try_fast(self, record):
        """The validated data, or None where the fast path cannot vouch for the record."""
        try:
            return self.fast(record)
        except Exception:  # noqa: BLE001 - any doubt: the serializer decides (and words the error)
            return None

    def version(self, raw):
        data = orjson.dumps(raw)
        entry = self.versions.get(raw.get("id"))
        # The same bytes (1 and true differ) and equal values (orjson writes NaN and infinities as null).
        if entry is None or entry[0] != data or entry[1] != raw:
            validated = self.version_field.run_validation(raw)
            raw_steps = {step["id"]: step for step in raw["steps"]}
            valid_steps = {step["id"]: valid for step, valid in zip(raw["steps"], validated["steps"], strict=True)}
            entry = (data, raw, validated, raw_steps, valid_steps, {step["id"] for step in validated["steps"]})
            if len(self.versions) >= self.MAX_VERSIONS:
                self.versions.clear()
            self.versions[raw["id"]] = entry
        return entry

    def recorded(self, raw, raw_steps, valid_steps):
        raw_step = raw["step"]
        step = valid_steps.get(raw_step["id"]) if type(raw_step) is dict else None
        if step is None or raw_step != raw_steps[raw_step["id"]]:
            step = self.step_field.run_validation(raw_step)
        return {
            "id": _uuid(raw["id"]),
            "status": _status(raw["status"]),
            "prompt": _json(raw["prompt"]),
            "result": _nullable_text(raw["result"]),
            "error": _nullable_text(raw["error"]),
            "user_input": _nullable_text(raw["user_input"]),
            "step": step,
            "created_at": when(raw["created_at"]),
            "updated_at": when(raw["updated_at"]),
        }

    def fast(self, record):
        _, _, version, raw_steps, valid_steps, version_step_ids = self.version(record["flow_version"])
        data = {"id": _uuid(record["id"])}
        steps_count = record.get("steps_count", _MISSING)
        if steps_count is not _MISSING:
            if steps_count is not None and (type(steps_count) is not int or not -(2**63) < steps_count < 2**63):
                raise NotSure
            data["steps_count"] = steps_count
        inputs = record["inputs"]
        if type(inputs) is not dict:
            raise NotSure
        data["inputs"] = _json(inputs)
        data["error"] = _nullable_text(record["error"])
        data["status"] = _status(record["status"])
        data["flow_version"] = version
        data["created_at"] = when(record["created_at"])
        data["updated_at"] = when(record["updated_at"])
        current = record["current_step"]
        data["current_step"] = None if current is None else self.recorded(current, raw_steps, valid_steps)
        if type(record["steps"]) is not list:
            raise NotSure
        data["steps"] = steps = [self.recorded(item, raw_steps, valid_steps) for item in record["steps"]]
        # ImportSessionSerializer.validate
        recorded_ids = {item["id"] for item in steps}
        if len(recorded_ids) != len(steps) or any(item["step"]["id"] not in version_step_ids for item in steps):
            raise NotSure
        if current is not None and data["current_step"]["id"] not in recorded_ids:
            raise NotSure
        return data
