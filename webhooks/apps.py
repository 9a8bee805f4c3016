from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from flowdesk import events
        from webhooks.delivery import record_event, wanted
        from webhooks.event_types import EVENT_TYPES

        events.register_outlet(record_event, wants=wanted, types=EVENT_TYPES)
