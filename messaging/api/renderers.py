"""The message flow as the vendor shapes it: one renderer, its column list beside it.

The list, GET one, the answers to POST, PUT and PATCH, the admin export, the import round trip
(an export imports back as it is) and the events all render a flow here, from a model instance
(``message_flow_data``) or from a row of ``LIST_COLUMNS`` / ``DETAIL_COLUMNS`` (``message_flow_row``).
"""


from flowdesk.api.fields import iso_z, jsonb_text_value, utc_text_z
from flowdesk.api.renderers import column_reader

# The list's keys, in the body's order, each with the column it reads (agent: its agent id).
LIST_KEYS = [
    ("_id", "id"),
    ("workspaceId", "workspace_id"),
    ("name", "name"),
    ("direction", "direction"),
    ("description", "description"),
    ("agent", "agent__agent_id"),
    ("settings", "settings"),
    ("prompt", "prompt"),
    ("isActive", "is_active"),
    ("autopilot", "autopilot"),
    ("messageChannel", "message_channel"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
]
# GET one (and the answers to writes) adds these after the list's keys.
DETAIL_KEYS = [*LIST_KEYS, ("initiationMessage", "initiation_message"), ("__v", "version")]

LIST_COLUMNS = [column for _, column in LIST_KEYS]
DETAIL_COLUMNS = [column for _, column in DETAIL_KEYS]

_LIST_NAMES = tuple(key for key, _ in LIST_KEYS)
_DETAIL_NAMES = tuple(key for key, _ in DETAIL_KEYS)
# Where a row holds its timestamps (the same in both: the detail columns extend the list's).
_CREATED_AT, _UPDATED_AT = LIST_COLUMNS.index("created_at"), LIST_COLUMNS.index("updated_at")
# The columns read off an instance (agent__agent_id: flow.agent.agent_id).
_read_list, _read_detail = column_reader(LIST_COLUMNS), column_reader(DETAIL_COLUMNS)


def message_flow_row(row, detail=False):
    """A flow from a row of ``DETAIL_COLUMNS`` (``detail``) or ``LIST_COLUMNS``."""
    # From rows, not model instances, for the list: building them was a third of the request.
    # (strict=False: a row is the columns' values by construction, and the check costs per row.)
    data = dict(zip(_DETAIL_NAMES if detail else _LIST_NAMES, row, strict=False))
    data["createdAt"] = iso_z(row[_CREATED_AT])
    data["updatedAt"] = iso_z(row[_UPDATED_AT])
    return data


_SETTINGS = LIST_COLUMNS.index("settings")


def message_flow_text_row(row):
    """A list item from a row of ``LIST_COLUMNS`` whose settings are jsonb text and timestamps
    UTC text (messaging.api.views.PAGE_SQL): no datetime or dict built only to be written again."""
    data = dict(zip(_LIST_NAMES, row, strict=False))
    data["settings"] = jsonb_text_value(row[_SETTINGS])
    data["createdAt"] = utc_text_z(row[_CREATED_AT])
    data["updatedAt"] = utc_text_z(row[_UPDATED_AT])
    return data


def message_flow_data(flow, detail=False):
    """A flow (its agent loaded) as the list shows it; ``detail``: as GET one answers it."""
    return message_flow_row((_read_detail if detail else _read_list)(flow), detail=detail)
