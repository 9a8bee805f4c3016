"""User-sessions family: the vendor's camelCase shapes, split the way NetBox splits serializers.

- fields.py: the field types (strict, storable, JSON numbers kept as given);
- dialogue.py, nested.py, sessions.py: the serializers that validate what comes in (PUT bodies,
  appended dialogue items, imported records) and the model column values they give;
- rendering.py: the one renderer of a session body, with the columns it reads.

The import's fast path is in sessions_app/importing/fastpath.py.

Each module's ``__all__`` is importable from here, as it was when this was one module.
"""

from sessions_app.api.serializers import dialogue, fields, nested, rendering, sessions
from sessions_app.api.serializers.dialogue import *  # noqa: F403
from sessions_app.api.serializers.fields import *  # noqa: F403
from sessions_app.api.serializers.nested import *  # noqa: F403
from sessions_app.api.serializers.rendering import *  # noqa: F403
from sessions_app.api.serializers.sessions import *  # noqa: F403

__all__ = [
    name for module in (fields, dialogue, nested, sessions, rendering) for name in module.__all__
]
