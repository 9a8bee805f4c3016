from django.apps import AppConfig


class FlowdeskConfig(AppConfig):
    # First in INSTALLED_APPS: its `runserver` (ASGI, sockets and streams) stands over staticfiles' one.
    name = "flowdesk"
    verbose_name = "Flowdesk"
