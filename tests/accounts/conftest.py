# The admin tests' two organizations, their staff member and superuser.
from tests.admin.conftest import admin_client_, mine, staff, staff_client, superuser, theirs  # noqa: F401
