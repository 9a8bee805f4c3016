"""The admin's part of the audit trail, hooked once in OrganizationScopedAdmin: every add, change
(with the fields and inline rows changed) and delete, and each view of a conversation's page
(admins with ``audit_views``), is an audit event in the same transaction as the change."""

from django.db.models import QuerySet

from audit.models import Action
from audit.trail import event, recognised, recognised_fields, record_many


def inline_changes(formset):
    """What a saved inline formset did, by pk (its rows are read from the database nowhere else)."""
    entry = {}
    if getattr(formset, "new_objects", None):
        entry["added"] = [str(obj.pk) for obj in formset.new_objects]
    if getattr(formset, "changed_objects", None):
        # Django counts an editable primary key (a workspace's id) as changed on every save of its row.
        pk = formset.model._meta.pk.name
        entry["changed"] = {
            str(obj.pk): [field for field in fields if field != pk] for obj, fields in formset.changed_objects
        }
    if getattr(formset, "deleted_objects", None):
        entry["deleted"] = [str(obj.pk) for obj in formset.deleted_objects]
    return entry


def form_changes(form, formsets):
    """Field names only, never values: the trail outlives erasures and must not keep what they removed."""
    changes = {"fields": list(form.changed_data)} if form is not None else {}
    for formset in formsets or ():
        entry = inline_changes(formset)
        if entry:
            changes.setdefault("inlines", {})[str(formset.model._meta.verbose_name_plural)] = entry
    return changes


class AuditedAdminMixin:
    # Conversation pages (a user, chat or live flow session): each GET of the change page is an event.
    audit_views = False
    audit_actions = {
        "view": Action.ADMIN_VIEW, "add": Action.ADMIN_ADD, "change": Action.ADMIN_CHANGE, "delete": Action.ADMIN_DELETE,
    }

    def audit_organization_path(self):
        path = getattr(self, "organization_path", None)
        if path is None and any(field.name == "organization" for field in self.model._meta.fields):
            return "organization"  # admins that scope by a rule of their own (user sessions)
        return path

    def audit_rows(self, objects):
        """(recognised id, organization id, organization name) of each object, in one query."""
        if not isinstance(objects, QuerySet):
            objects = self.model._default_manager.filter(pk__in=[obj.pk for obj in objects])
        fields = recognised_fields(self.model)
        path = self.audit_organization_path()
        organization = [] if path is None else ["pk", "name"] if path == "pk" else [path, f"{path}__name"]
        for row in objects.order_by().values_list(*fields, *organization):
            values, org = row[: len(fields)], row[len(fields):]
            yield recognised(values), (tuple(org) if org and org[0] is not None else (None, ""))

    def audit(self, request, kind, objects, changes=None):
        object_type = self.model._meta.verbose_name
        record_many([
            event(self.audit_actions[kind], actor=request.user, object_type=object_type, object_id=object_id,
                  organization=organization, request=request, changes=changes)
            for object_id, organization in self.audit_rows(objects)
        ])

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        request._audit_changes = form_changes(form, formsets)  # read by log_addition / log_change
        return message

    def log_addition(self, request, obj, message):
        result = super().log_addition(request, obj, message)
        self.audit(request, "add", [obj], getattr(request, "_audit_changes", None))
        return result

    def log_change(self, request, obj, message):
        result = super().log_change(request, obj, message)
        self.audit(request, "change", [obj], getattr(request, "_audit_changes", None))
        return result

    def log_deletions(self, request, queryset):
        # Called before the deletion: the rows are still there to be named.
        self.audit(request, "delete", queryset)
        return super().log_deletions(request, queryset)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if self.audit_views and change and obj is not None and request.method == "GET":
            self.audit(request, "view", [obj])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
