"""A conversation read as a conversation: a read-only pane (a transcript, a chat, a timeline) in a
fieldset of its own on an object's change page, drawn by a template that escapes everything."""

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe


class ReadingPaneMixin:
    """Put it before the ModelAdmin in the bases; a family names its title, template and context."""

    reading_title = None
    reading_template = None
    # Where the pane's fieldset goes among the admin's fieldsets (None: after the last).
    reading_position = None

    def reading_context(self, obj):
        raise NotImplementedError

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None or obj.pk is None:
            return fieldsets  # nothing to read on the add page
        pane = (self.reading_title, {"fields": ["reading_pane"], "classes": ["flowdesk-reading"]})
        position = len(fieldsets) if self.reading_position is None else self.reading_position
        fieldsets.insert(position, pane)
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "reading_pane"]

    @admin.display(description="")
    def reading_pane(self, obj):
        # Every value reaches the page through the template's autoescaping.
        return mark_safe(render_to_string(self.reading_template, self.reading_context(obj)))
