from importlib import import_module

from django.db import migrations, models

# As in 0003: SQLite adds the column by rebuilding the table, which the cross-row triggers of 0002
# would break, so they are dropped first and created again after.
integrity = import_module("flows.migrations.0002_cross_row_integrity")


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        integrity.backwards(apps, schema_editor)


def create_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        integrity.forwards(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('flows', '0003_engine_attempts_and_lease'),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, create_sqlite_triggers),
        migrations.AddField(
            model_name='liveflowsession',
            name='revision',
            field=models.PositiveBigIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.RunPython(create_sqlite_triggers, drop_sqlite_triggers),
    ]
