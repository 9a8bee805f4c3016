"""ASGI: Django (REST, admin, event streams) with the tutor sessions' Socket.IO in front of it.

`uvicorn config.asgi:application` serves everything; in production it serves the live paths
(`/session/socket/connect/`, the `/events` and `/stream` endpoints) beside gunicorn for REST.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

# Under ASGI, Django runs synchronous code on threads that come and go: a persistent connection is
# left open on each until garbage collection finds it, and they pile up past PostgreSQL's limit
# (measured). Here each request's connection closes when it ends; gunicorn keeps its own open.
for database in settings.DATABASES.values():
    database["CONN_MAX_AGE"] = 0

from sessions_app.socket import asgi_application  # noqa: E402 - needs Django set up

application = asgi_application(django_application)

from flowdesk.startup import freeze_startup_objects  # noqa: E402

freeze_startup_objects()
