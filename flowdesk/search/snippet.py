"""The part of a hit's text around the first match, escaped, with every match in <mark>."""

import re

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH = 200
BEFORE = 60


def _pattern(found):
    if not found:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(set(found), key=len, reverse=True)), re.IGNORECASE)


def snippet(text, found, width=WIDTH):
    text = text or ""
    pattern = _pattern(found)
    first = pattern.search(text) if pattern else None
    start = max(0, first.start() - BEFORE) if first else 0
    end = min(len(text), start + width)
    window = re.sub(r"\s+", " ", text[start:end])
    parts, last = [], 0
    for match in pattern.finditer(window) if pattern else ():
        parts.append(escape(window[last:match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        last = match.end()
    parts.append(escape(window[last:]))
    return mark_safe(("…" if start else "") + "".join(parts) + ("…" if end < len(text) else ""))
