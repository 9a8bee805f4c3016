"""The searchable texts of the families, each registered by its app's ``search.py``."""

from dataclasses import dataclass, field

from django.apps import apps


@dataclass(frozen=True)
class TextSource:
    """One table whose rows hold what was said, and how a hit is shown.

    ``parts`` is the text as the migration's ``InstallTextIndex`` indexes it (kept equal to it).
    ``conversation`` is the lookup from a row to the conversation it is part of ("" for the row
    itself); the conversation's changelist finds it by its rows' text.
    """

    name: str
    model: str  # "app_label.ModelName"
    parts: tuple
    family: str
    conversation: str
    time: str  # the hit's time, a lookup from the row
    select_related: tuple = ()
    # (row) -> the conversation's label and the admin URL of the object shown
    describe: object = None
    organization: object = None  # (row) -> Organization or None
    order: tuple = field(default=())
    heavy: tuple = ()  # columns the hits do not show (the indexed text is read instead)

    @property
    def model_class(self):
        return apps.get_model(self.model)

    @property
    def conversation_model(self):
        model = self.model_class
        if not self.conversation:
            return model
        for name in self.conversation.split("__"):
            model = model._meta.get_field(name).related_model
        return model


def change_url(obj):
    from django.contrib.admin.utils import quote
    from django.urls import reverse

    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


_sources = {}


def register(source):
    _sources[source.name] = source
    return source


def all_sources():
    return list(_sources.values())


def for_model(model):
    """The source whose rows, or whose rows' conversations, are ``model``'s rows."""
    for source in _sources.values():
        if model is source.model_class or model is source.conversation_model:
            return source
    return None
