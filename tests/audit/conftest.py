import pytest
from django.contrib.auth.models import Permission

# The admin tests' two organizations, their staff member and superuser.
from tests.admin.conftest import STAFF_GROUP, admin_client_, mine, staff, superuser, theirs  # noqa: F401
from tests.admin.helpers import logged_in


@pytest.fixture
def staff_client(staff):  # noqa: F811 - the imported fixture, by name
    """The staff member, allowed to read the audit trail too (view permission only)."""
    staff.groups.get(name=STAFF_GROUP).permissions.add(Permission.objects.get(codename="view_auditevent"))
    return logged_in(staff)
