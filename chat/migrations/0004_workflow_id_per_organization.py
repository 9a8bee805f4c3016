"""Workflow ids become unique per organization (issue 13).

A workflow's UUID was its primary key, so one organization holding an id kept every other from
it. It moves to a `uuid` column, unique with the organization, and the table gets a numbered
primary key. The rows are copied into a new table, the chat sessions pointed at the copies, the
old table dropped and the new one renamed: every workflow and every session keeps its values.
Reversing works while no workflow id is held by two organizations. The new table's organization
column has no index of its own (the unique constraint leads with it), which also keeps index
names, derived from table names, from meeting the old table's when the rename is undone.
"""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError
from django.db.models import Count, OuterRef, Subquery


def table(model, schema_editor):
    return schema_editor.quote_name(model._meta.db_table)


def move_to_numbered_table(apps, schema_editor):
    old, new = apps.get_model("chat", "Workflow"), apps.get_model("chat", "WorkflowNew")
    session = apps.get_model("chat", "ChatSession")
    schema_editor.execute(
        f"INSERT INTO {table(new, schema_editor)} (uuid, organization_id, name, created_at) "
        f"SELECT id, organization_id, name, created_at FROM {table(old, schema_editor)}"
    )
    # Every uuid is still unique here (it was the primary key), so it names one new row.
    db = schema_editor.connection.alias
    session.objects.using(db).filter(workflow__isnull=False).update(
        workflow_new=Subquery(new.objects.using(db).filter(uuid=OuterRef("workflow_id")).values("pk")[:1])
    )


def move_back(apps, schema_editor):
    old, new = apps.get_model("chat", "Workflow"), apps.get_model("chat", "WorkflowNew")
    session = apps.get_model("chat", "ChatSession")
    db = schema_editor.connection.alias
    shared = new.objects.using(db).values("uuid").annotate(n=Count("id")).filter(n__gt=1).values_list("uuid", flat=True)
    if shared:
        raise IrreversibleError(f"Workflow ids held by more than one organization: {', '.join(map(str, shared[:5]))}")
    schema_editor.execute(
        f"INSERT INTO {table(old, schema_editor)} (id, organization_id, name, created_at) "
        f"SELECT uuid, organization_id, name, created_at FROM {table(new, schema_editor)}"
    )
    session.objects.using(db).filter(workflow_new__isnull=False).update(
        workflow=Subquery(new.objects.using(db).filter(pk=OuterRef("workflow_new_id")).values("uuid")[:1])
    )


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("chat", "0003_conversations_and_message_links"),
    ]

    operations = [
        # The session constraints name the old foreign key: off while it is swapped.
        migrations.RemoveConstraint(model_name="chatsession", name="chatsession_one_per_workflow"),
        migrations.RemoveConstraint(model_name="chatsession", name="chatsession_context_key"),
        migrations.CreateModel(
            name="WorkflowNew",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, verbose_name="workflow id")),
                ("name", models.CharField(blank=True, max_length=200, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "organization",
                    models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            options={"ordering": ["name", "id"]},
        ),
        migrations.AddField(
            model_name="chatsession",
            name="workflow_new",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="chat.workflownew",
            ),
        ),
        migrations.RunPython(move_to_numbered_table, move_back),
        migrations.RemoveField(model_name="chatsession", name="workflow"),
        migrations.DeleteModel(name="Workflow"),
        migrations.RenameModel(old_name="WorkflowNew", new_name="Workflow"),
        migrations.RenameField(model_name="chatsession", old_name="workflow_new", new_name="workflow"),
        migrations.AlterField(
            model_name="chatsession",
            name="workflow",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="chat_sessions",
                to="chat.workflow",
            ),
        ),
        migrations.AlterField(
            model_name="workflow",
            name="organization",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="chat_workflows",
                to="accounts.organization",
            ),
        ),
        migrations.AddConstraint(
            model_name="workflow",
            constraint=models.UniqueConstraint(fields=("organization", "uuid"), name="chatworkflow_uuid_unique"),
        ),
        migrations.AddConstraint(
            model_name="chatsession",
            constraint=models.UniqueConstraint(
                condition=models.Q(("context_type", "workflow")), fields=("workflow",), name="chatsession_one_per_workflow"
            ),
        ),
        migrations.AddConstraint(
            model_name="chatsession",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("context_type", "session"), ("session_id__isnull", False)),
                    models.Q(("context_type", "workflow"), ("workflow__isnull", False)),
                    _connector="OR",
                ),
                name="chatsession_context_key",
            ),
        ),
    ]
