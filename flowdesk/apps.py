from django.apps import AppConfig


class FlowdeskConfig(AppConfig):
    # First in INSTALLED_APPS: its `runserver` (ASGI, sockets and streams) stands over staticfiles' one.
    name = "flowdesk"
    verbose_name = "Flowdesk"

    def ready(self):
        from django.utils.module_loading import autodiscover_modules

        from flowdesk import devserver
        from flowdesk.admin import login_lockout
        from flowdesk.api import schema  # noqa: F401 - registers the OpenAPI extension for API keys

        autodiscover_modules("search")  # each family registers its searchable text (flowdesk.search.sources)
        autodiscover_modules("insights")  # each family registers its charts (flowdesk.admin.insights)
        autodiscover_modules("api.errors")  # each family registers its error body (flowdesk.api.errors.Family)
        devserver.install()
        login_lockout.connect_signals()
