"""One test harness for the imports' fast paths: a fast path must agree with its serializer.

A fast path may decline a record (returning None or raising NotSure: the serializer then decides
and words the error), but whatever it accepts its serializer must accept too, with exactly the
same validated data, key order and value types included. The harness varies every key of every
sample record: each odd value in turn, the key removed, an unknown key beside it, plus the
family's own variants (repeated ids, ...). It also checks that it is not vacuous: the fast path
takes the samples and many variants, and the variants include many the serializer refuses.
"""

import copy
import json
from dataclasses import dataclass, field

from rest_framework import serializers

from flowdesk.importing.fastcheck import NotSure

# Values that trip the usual checks: types, bounds, NUL, lone surrogates, non-ASCII, dates.
ODD_VALUES = [
    None, True, False, 0, -1, 1, 1.5, 2**53, 2_000_000_001, 2**70, float("inf"), float("nan"), "", " ", "x",
    "a" * 65, "a" * 129, "a" * 201, "a" * 256, "a" * 2049, "nul\x00", "lone \ud800", "été", "bad id!", "ok\n",
    "2023-11-07T05:31:56Z", "2023-11-07", " 2023-11-07T05:31:56Z ", "2023-11-07T05:31:56+15:59",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "not a date", "２０２３-11-07T05:31:56Z",
    [], [None], ["x"], [""], ["\x00"], [1, "x"], {}, {"a": 1}, {"a": "\x00"}, 12345678901234567890,
]


def ordered(value):
    """A comparable form that keeps key order (dict equality ignores it) and value types."""
    return json.dumps(value, default=lambda v: f"{type(v).__name__}:{v!r}", sort_keys=False)


def paths(value, prefix=()):
    """Every path to a value inside a record."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from paths(child, (*prefix, index))


def replaced(record, path, new):
    record = copy.deepcopy(record)
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = copy.deepcopy(new)
    return record


def removed(record, path):
    record = copy.deepcopy(record)
    target = record
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return record


@dataclass
class FastPathHarness:
    fast: object  # record -> validated data, or None / NotSure to decline
    serializer: object  # record -> validated data; raises serializers.ValidationError
    records: list
    odd_values: list = field(default_factory=lambda: list(ODD_VALUES))
    extra_variants: object = None  # record -> iterable of more variants of it
    top_level_keys: tuple = ()  # keys tried with every odd value even where a sample lacks them

    def variants(self):
        for record in self.records:
            yield record
            for path in paths(record):
                for value in self.odd_values:
                    yield replaced(record, path, value)
                yield removed(record, path)
                if isinstance(path[-1], str):
                    yield replaced(record, (*path[:-1], "unknown_key"), 1)
            for key in self.top_level_keys:
                for value in self.odd_values:
                    yield replaced(record, (key,), value)
            if self.extra_variants is not None:
                yield from self.extra_variants(record)

    def run_fast(self, record):
        try:
            return self.fast(copy.deepcopy(record))
        except NotSure:
            return None

    def run_serializer(self, record):
        try:
            return True, self.serializer(copy.deepcopy(record))
        except serializers.ValidationError:
            return False, None

    def check(self, min_fast=100, min_refused=100):
        """Assert the agreement; returns (taken by the fast path, refused by the serializer)."""
        for record in self.records:
            assert self.run_fast(record) is not None, f"a sample record does not take the fast path: {record}"
        taken = refused = 0
        for record in self.variants():
            fast = self.run_fast(record)
            accepted, data = self.run_serializer(record)
            refused += not accepted
            if fast is None:
                continue
            taken += 1
            assert accepted, f"the fast path accepts what the serializer refuses: {record}"
            assert ordered(fast) == ordered(data), f"the fast path's data differs from the serializer's: {record}"
        # Not vacuous: both paths were really exercised.
        assert taken >= min_fast, f"only {taken} variants took the fast path"
        assert refused >= min_refused, f"only {refused} variants were refused by the serializer"
        return taken, refused
