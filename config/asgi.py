"""ASGI: Django (REST, admin, event streams) with the tutor sessions' Socket.IO in front of it.

`uvicorn config.asgi:application` serves everything; in production it serves the live paths
(`/session/socket/connect/`, the `/events` and `/stream` endpoints) beside gunicorn for REST.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from sessions_app.socket import asgi_application  # noqa: E402 - needs Django set up

application = asgi_application(django_application)
