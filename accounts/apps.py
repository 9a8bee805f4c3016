from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from accounts import devserver, login_lockout
        from accounts.api import schema  # noqa: F401 - registers the OpenAPI extension for API keys

        devserver.install()
        login_lockout.connect_signals()
