"""What a serving process does once Django is set up, before its first request."""

import gc


def freeze_startup_objects():
    """Load the URLconf (every view, serializer and renderer), then take what start-up made out
    of the garbage collector's sweeps: otherwise a full collection inside a request walks every
    module's objects, and a request that meets one is the p99 (bench/FINDINGS.md: 65 ms -> 31 ms
    at one connection on the live flows page)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports what the URLconf names
    gc.freeze()
