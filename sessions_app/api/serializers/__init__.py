"""User-sessions family: the vendor's camelCase shapes, split the way NetBox splits serializers.

- fields.py: the field types (strict, storable, JSON numbers kept as given);
- dialogue.py, nested.py, sessions.py: the serializers that validate what comes in (PUT bodies,
  appended dialogue items, imported records) and the model column values they give;
- rendering.py: the one renderer of a session body, with the columns it reads;
- imports.py: what the import reads (its fast path, then the serializer).

Every name is importable from here, as it was when this was one module.
"""

from sessions_app.api.serializers.dialogue import (
    DialogueContentField,
    DialogueItemSerializer,
    NewDialogueItemSerializer,
)
from sessions_app.api.serializers.fields import (
    MAX_DIALOGUE_DEPTH,
    MAX_SAFE_INTEGER,
    AnyJSONField,
    ItemsField,
    JSONObjectOrNullField,
    NumberField,
    ObjectField,
    Text,
    UiField,
    json_problem,
    text_problem,
)
from sessions_app.api.serializers.imports import validated_session, well_formed_session
from sessions_app.api.serializers.nested import (
    AudioSerializer,
    ClickSerializer,
    StatsSerializer,
    TutorialSerializer,
    UserInfoField,
    UserInfoSerializer,
)
from sessions_app.api.serializers.rendering import (
    AUDIO_COLUMNS,
    DIALOGUE_COLUMNS,
    SESSION_COLUMNS,
    audio_row,
    dialogue_item_data,
    dialogue_row,
    item_data,
    session_body,
    session_data,
    sessions_data,
    vendor_content,
)
from sessions_app.api.serializers.sessions import (
    RESERVED_SESSION_IDS,
    SESSION_ID_REGEX,
    UserSessionSerializer,
    audio_rows,
    dialogue_rows,
    known_session_keys,
    session_values,
)

__all__ = [
    "AUDIO_COLUMNS", "DIALOGUE_COLUMNS", "MAX_DIALOGUE_DEPTH", "MAX_SAFE_INTEGER", "RESERVED_SESSION_IDS",
    "SESSION_COLUMNS", "SESSION_ID_REGEX", "AnyJSONField", "AudioSerializer", "ClickSerializer",
    "DialogueContentField", "DialogueItemSerializer", "ItemsField", "JSONObjectOrNullField", "NewDialogueItemSerializer",
    "NumberField", "ObjectField", "StatsSerializer", "Text", "TutorialSerializer", "UiField", "UserInfoField",
    "UserInfoSerializer", "UserSessionSerializer", "audio_row", "audio_rows", "dialogue_item_data", "dialogue_row",
    "dialogue_rows", "item_data", "json_problem", "known_session_keys", "session_body", "session_data",
    "session_values", "sessions_data", "text_problem", "validated_session", "vendor_content", "well_formed_session",
]
