"""Charts drawn as SVG on the server: no script, no CDN, every label escaped.

Each function takes plain numbers and labels and returns markup (SafeString)."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 720, 200
LEFT, BOTTOM, TOP, RIGHT = 48, 28, 12, 12
PALETTE = ["#2e7d32", "#c62828", "#1565c0", "#f9a825", "#6a1b9a", "#00838f", "#757575"]


def _number(value):
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    return f"{int(value):,}"


def _svg(height, body, label):
    return mark_safe(
        f'<svg class="fd-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" font-family="sans-serif" '
        f'font-size="11">{"".join(body)}</svg>'
    )


def _axis(top, maximum, fmt):
    plot = HEIGHT - TOP - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{TOP + plot}" x2="{WIDTH - RIGHT}" y2="{TOP + plot}" stroke="#999"/>']
    for tick in (0, 0.5, 1):
        y = TOP + plot - tick * plot
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{escape(fmt(maximum * tick))}</text>')
        if tick:
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
    return parts


def _day_labels(days, x_of, step_width):
    every = max(1, round(len(days) / 8))
    return [
        f'<text x="{x_of(i) + step_width / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" fill="#555">'
        f"{escape(day.strftime('%m-%d'))}</text>"
        for i, day in enumerate(days) if i % every == 0
    ]


def stacked_bars(days, series, label, fmt=_number, first_color=0):
    """Bars per day, one stacked segment per series (``series``: name -> one value per day)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    maximum = max(totals, default=0) or 1
    plot = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    body = _axis(TOP, maximum, fmt)
    for i, day in enumerate(days):
        y = TOP + plot
        for n, (name, values) in enumerate(series.items()):
            if not values[i]:
                continue
            h = values[i] / maximum * plot
            y -= h
            body.append(
                f'<rect class="bar" x="{LEFT + i * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[(first_color + n) % len(PALETTE)]}" data-series="{escape(name)}" '
                f'data-value="{values[i]}"><title>{escape(day.isoformat())} {escape(name)}: {escape(fmt(values[i]))}'
                "</title></rect>"
            )
    body += _day_labels(days, lambda i: LEFT + i * step, step)
    return _svg(HEIGHT, body, label)


def line(days, values, label, fmt=_number, maximum=None):
    """One value per day as a line with dots (None: no value that day, a gap)."""
    known = [v for v in values if v is not None]
    maximum = maximum or max(known, default=0) or 1
    plot = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    body = _axis(TOP, maximum, fmt)
    points = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        if value is None:
            if len(points) > 1:
                body.append(f'<polyline fill="none" stroke="{PALETTE[1]}" stroke-width="2" points="{" ".join(points)}"/>')
            points = []
            continue
        x, y = LEFT + i * step + step / 2, TOP + plot - value / maximum * plot
        points.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[1]}" data-value="{value}">'
            f"<title>{escape(day.isoformat())}: {escape(fmt(value))}</title></circle>"
        )
    if len(points) > 1:
        body.append(f'<polyline fill="none" stroke="{PALETTE[1]}" stroke-width="2" points="{" ".join(points)}"/>')
    body += _day_labels(days, lambda i: LEFT + i * step, step)
    return _svg(HEIGHT, body, label)


def horizontal_bars(rows, label, fmt=_number):
    """``rows``: (label, {series: value}) pairs, one bar group per row, longest first as given."""
    row_height, label_width = 22, 220
    height = TOP + BOTTOM + row_height * max(len(rows), 1)
    maximum = max((v for _, values in rows for v in values.values()), default=0) or 1
    usable = WIDTH - label_width - RIGHT - 60
    body = []
    for r, (name, values) in enumerate(rows):
        y = TOP + r * row_height
        body.append(
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" fill="#333">{escape(name[:34])}</text>'
        )
        count = len(values)
        for n, (series, value) in enumerate(values.items()):
            h = (row_height - 6) / count
            w = value / maximum * usable
            body.append(
                f'<rect class="bar" x="{label_width}" y="{y + 2 + n * h:.1f}" width="{max(w, 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[n % len(PALETTE)]}" data-series="{escape(series)}" '
                f'data-value="{value}"><title>{escape(name)} {escape(series)}: {escape(fmt(value))}</title></rect>'
            )
            body.append(
                f'<text x="{label_width + w + 4:.1f}" y="{y + 2 + n * h + h - 2:.1f}" fill="#555">{escape(fmt(value))}</text>'
            )
    return _svg(height, body, label)


def legend(names, first_color=0):
    return mark_safe("".join(
        f'<span class="fd-legend"><i style="background:{PALETTE[(first_color + n) % len(PALETTE)]}"></i>{escape(name)}</span>'
        for n, name in enumerate(names)
    ))
