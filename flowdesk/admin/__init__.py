"""What every Flowdesk admin shares: organization scoping (scoping.py), JSON widgets (widgets.py),
big tables (tables.py), export actions (exports.py) and declarative count columns (counts.py)."""

from flowdesk.admin.counts import CountColumn, subquery_count
from flowdesk.admin.exports import export_download, single_scope
from flowdesk.admin.scoping import (
    OrganizationScopedAdmin,
    ReadOnlyInlineMixin,
    ScopedAdminBase,
    ScopedInlineMixin,
    ScopedRelatedFilter,
    member_organizations,
)
from flowdesk.admin.tables import LargeTableAdminMixin, LargeTableChangeList, LargeTablePaginator
from flowdesk.admin.widgets import (
    PrettyJSONField,
    PrettyJSONWidget,
    api_rules,
    json_array_of_strings,
    json_formfield,
    json_number,
    json_object,
    pretty_json,
)

__all__ = [
    "CountColumn", "LargeTableAdminMixin", "LargeTableChangeList", "LargeTablePaginator", "OrganizationScopedAdmin",
    "PrettyJSONField", "PrettyJSONWidget", "ReadOnlyInlineMixin", "ScopedAdminBase", "ScopedInlineMixin", "ScopedRelatedFilter", "api_rules",
    "export_download", "json_array_of_strings", "json_formfield", "json_number", "json_object",
    "member_organizations", "pretty_json", "single_scope", "subquery_count",
]
