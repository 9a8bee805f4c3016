"""The hold on one session, in the admins of the three families retention deletes."""

from django.contrib import admin, messages
from django.db import transaction


def hold_only(form, obj):
    """Whether the hold is all that changes: the other fields a form calls changed (its JSON and
    id fields say so of an equal value) are compared with the stored row."""
    if "retention_hold" not in form.changed_data:
        return False
    fields = [obj._meta.get_field(name) for name in form.changed_data if name != "retention_hold"]
    if not fields:
        return True
    stored = type(obj)._base_manager.filter(pk=obj.pk).values_list(*(f.attname for f in fields)).first()
    return stored == tuple(getattr(obj, f.attname) for f in fields)


class RetentionHoldAdminMixin:
    """First among an admin's bases: a change of the hold alone is written as that column only, for
    it is neither activity nor part of the API's answer (updated_at, the revision, the body stay)."""

    def save_model(self, request, obj, form, change):
        if change and hold_only(form, obj):
            self.model._base_manager.filter(pk=obj.pk).update(retention_hold=obj.retention_hold)
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Hold from retention", permissions=["change"])
    def hold_from_retention(self, request, queryset):
        self._set_hold(request, queryset, True)

    @admin.action(description="Release the retention hold", permissions=["change"])
    def release_retention_hold(self, request, queryset):
        self._set_hold(request, queryset, False)

    def _set_hold(self, request, queryset, hold):
        # By pk: the changelist's queryset carries annotations an UPDATE cannot take.
        rows = self.model._base_manager.filter(pk__in=list(queryset.exclude(retention_hold=hold).values_list("pk", flat=True)))
        with transaction.atomic():
            self.audit(request, "change", rows, {"fields": ["retention_hold"]})
            count = rows.update(retention_hold=hold)
        noun = self.model._meta.verbose_name if count == 1 else self.model._meta.verbose_name_plural
        self.message_user(request, f"{count} {noun} {'held from' if hold else 'released to'} retention.", messages.SUCCESS)
