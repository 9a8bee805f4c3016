# The admin tests' two organizations, superuser and staff member.
from tests.admin.conftest import admin_client_, mine, staff, staff_client, superuser, theirs  # noqa: F401
