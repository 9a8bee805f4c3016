"""A flow version's graph as an SVG picture, drawn on the server (no JavaScript, no network).

Layered layout: the START step on top, each other step one layer below the deepest step that
reaches it on a shortest path from START (breadth-first); steps START cannot reach go in a last
layer. Transitions that go down are straight arrows; those that go up or sideways (loops back)
curve around the right-hand side so they do not cross the boxes.

Given a session's path (the steps it recorded, in order), the picture marks it: the transitions
it took in a strong colour, each visited step with its place(s) in the path, failed steps in red,
and the steps it never reached faded.
"""

from collections import defaultdict, deque
from html import escape

from flows.models import StepType

BOX_HEIGHT = 40
LAYER_GAP = 70
BOX_GAP = 40
CHAR_WIDTH = 7.2  # of the 12px sans-serif labels, near enough for sizing boxes
MARGIN = 20
PATH_COLOR = "#d81b60"
FAILED_COLOR = "#c62828"

COLORS = {
    StepType.START: ("#e8f5e9", "#2e7d32"),
    StepType.LLM: ("#e3f2fd", "#1565c0"),
    StepType.USER_INPUT: ("#fff8e1", "#ef6c00"),
}


def _layers(steps, transitions):
    ids = [step.id for step in steps]
    out = defaultdict(list)
    for t in transitions:
        out[t.source_step_id].append(t.target_step_id)
    depth = {}
    starts = [step.id for step in steps if step.step_type == StepType.START]
    queue = deque()
    for start in starts:
        depth[start] = 0
        queue.append(start)
    while queue:
        node = queue.popleft()
        for target in out[node]:
            if target not in depth and target in ids:
                depth[target] = depth[node] + 1
                queue.append(target)
    unreachable_layer = max(depth.values(), default=-1) + 1
    layers = defaultdict(list)
    for step in steps:
        layers[depth.get(step.id, unreachable_layer)].append(step)
    return [layers[i] for i in sorted(layers)]


def _path_marks(path):
    """(visits: step id -> 1-based places, taken: {(source, target)}, last status per step id)."""
    visits, taken, status = defaultdict(list), set(), {}
    previous = None
    for place, (step_id, step_status) in enumerate(path, start=1):
        visits[step_id].append(place)
        status[step_id] = step_status
        if previous is not None:
            taken.add((previous, step_id))
        previous = step_id
    return visits, taken, status


def _badge(places):
    text = ",".join(str(p) for p in places[:3]) + ("…" if len(places) > 3 else "")
    return text, max(18, len(text) * 6.5 + 8)


def flow_version_svg(steps, transitions, path=None):
    """The SVG markup (a string) of these steps and transitions; ``path``: (step id, status) pairs
    in the order a session recorded them, drawn on the graph."""
    steps = list(steps)
    transitions = list(transitions)
    visits, taken, last_status = _path_marks(path or ())
    if not steps:
        return '<p class="help">This version has no steps yet.</p>'
    layers = _layers(steps, transitions)
    width_of = {step.id: max(90, int(len(step.name) * CHAR_WIDTH) + 24) for step in steps}
    row_widths = [sum(width_of[s.id] for s in layer) + BOX_GAP * (len(layer) - 1) for layer in layers]
    content_width = max(row_widths)
    boxes = {}
    for index, layer in enumerate(layers):
        x = MARGIN + (content_width - row_widths[index]) / 2
        y = MARGIN + index * (BOX_HEIGHT + LAYER_GAP)
        for step in layer:
            boxes[step.id] = (x, y, width_of[step.id], index)
            x += width_of[step.id] + BOX_GAP
    loop_room = 80  # the right-hand margin where upward arrows curve
    width = content_width + 2 * MARGIN + loop_room
    height = MARGIN * 2 + len(layers) * BOX_HEIGHT + (len(layers) - 1) * LAYER_GAP

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="Flow version graph" '
        'font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
        + (f'<marker id="arrow-taken" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{PATH_COLOR}"/></marker>' if path else "")
        + "</defs>",
    ]
    right_edge = MARGIN + content_width
    for n, t in enumerate(transitions):
        if t.source_step_id not in boxes or t.target_step_id not in boxes:
            continue
        sx, sy, sw, slayer = boxes[t.source_step_id]
        tx, ty, tw, tlayer = boxes[t.target_step_id]
        label = escape(t.label or "")
        if tlayer > slayer:
            x1, y1 = sx + sw / 2, sy + BOX_HEIGHT
            x2, y2 = tx + tw / 2, ty
            d = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
            lx, ly = (x1 + x2) / 2 + 4, (y1 + y2) / 2
        else:
            # Back or sideways: out of the source's right side, round the right margin, into the target's.
            x1, y1 = sx + sw, sy + BOX_HEIGHT / 2
            x2, y2 = tx + tw, ty + BOX_HEIGHT / 2 + (6 if t.source_step_id == t.target_step_id else 0)
            bulge = right_edge + 30 + (n % 3) * 15
            d = f"M{x1:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            lx, ly = bulge - 10, (y1 + y2) / 2
        if (t.source_step_id, t.target_step_id) in taken:
            cls, stroke, width, marker, fill = "transition taken", PATH_COLOR, 3, "arrow-taken", PATH_COLOR
        else:
            cls, stroke, width, marker, fill = "transition", "#555" if not path else "#aaa", 1.5, "arrow", "#333"
        parts.append(
            f'<g class="{cls}"><path d="{d}" fill="none" stroke="{stroke}" stroke-width="{width}" '
            f'marker-end="url(#{marker})"/>'
            + (f'<text x="{lx:.1f}" y="{ly:.1f}" fill="{fill}" font-style="italic">{label}</text>' if label else "")
            + "</g>"
        )
    for step in steps:
        x, y, w, _ = boxes[step.id]
        fill, stroke = COLORS.get(step.step_type, ("#f5f5f5", "#616161"))
        is_start = step.step_type == StepType.START
        places = visits.get(step.id)
        border, border_width = stroke, 3 if is_start else 1.5
        cls, extra, badge = f"step step-{escape(step.step_type.lower())}", "", ""
        if path and places:
            failed = last_status.get(step.id) == "FAILED"
            border, border_width = (FAILED_COLOR if failed else PATH_COLOR), 3
            cls += " visited" + (" failed" if failed else "")
            text, badge_width = _badge(places)
            badge = (
                f'<g class="visits"><rect x="{x + w - badge_width + 6:.1f}" y="{y - 9:.1f}" width="{badge_width:.1f}" '
                f'height="16" rx="8" fill="{border}"/><text x="{x + w - badge_width / 2 + 6:.1f}" y="{y + 3:.1f}" '
                f'text-anchor="middle" fill="#fff" font-size="10" font-weight="bold">{text}</text></g>'
            )
            extra = f' data-visits="{",".join(str(p) for p in places)}"'
        elif path:
            cls += " unvisited"
            extra = ' opacity="0.5"'
        shape = (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w}" height="{BOX_HEIGHT}" rx="{20 if is_start else 4}" '
            f'fill="{fill}" stroke="{border}" stroke-width="{border_width}"/>'
        )
        parts.append(
            f'<g class="{cls}" data-step-id="{step.id}"{extra}>{shape}'
            f'<text x="{x + w / 2:.1f}" y="{y + 17:.1f}" text-anchor="middle" fill="#111" '
            f'font-weight="{"bold" if is_start else "normal"}">{escape(step.name)}</text>'
            f'<text x="{x + w / 2:.1f}" y="{y + 31:.1f}" text-anchor="middle" fill="{stroke}" font-size="10">'
            f"{escape(step.step_type)}</text>{badge}</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
