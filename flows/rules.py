"""The rules of a flow version's graph, written once for the API, the admin and the import.

Each rule takes plain data (read from a request, a formset or an import record) and returns
what breaks it; each caller words the problem the way its clients have always read it.

- One START step: exactly one for a version written through the API or the admin. The import
  takes "at most one" (the database's own rule): it reads back the list endpoint's body, and a
  session may have run a version left without START (it then failed, "no START step to run").
- Step names, and step ids, are unique within a version.
- A transition joins two steps of its own version.
"""

from flows.models import StepType


def start_steps(step_types):
    """The positions of the START steps among ``step_types`` (one per step, in order)."""
    return [index for index, step_type in enumerate(step_types) if step_type == StepType.START]


def repeated(items):
    """The keys of the ``(key, value)`` items whose value an earlier item already has."""
    seen, repeats = set(), []
    for key, value in items:
        if value in seen:
            repeats.append(key)
        seen.add(value)
    return repeats


def outside(ends):
    """The keys of the transition ends that name no step of the version: ``ends`` are
    ``(key, reference, the version's steps by that kind of reference)`` items, in order."""
    return [key for key, reference, steps in ends if reference not in steps]
