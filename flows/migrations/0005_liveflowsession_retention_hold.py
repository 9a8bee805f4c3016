from importlib import import_module

from django.db import migrations, models

# As in 0003 and 0004: SQLite adds the column by rebuilding the table, which the cross-row
# triggers of 0002 would break, so they are dropped first and created again after.
triggers = import_module("flows.migrations.0003_engine_attempts_and_lease")
drop_sqlite_triggers, create_sqlite_triggers = triggers.drop_sqlite_triggers, triggers.create_sqlite_triggers


class Migration(migrations.Migration):

    dependencies = [
        ('flows', '0004_session_revision'),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, create_sqlite_triggers),
        migrations.AddField(
            model_name='liveflowsession',
            name='retention_hold',
            field=models.BooleanField(db_default=False, default=False, help_text='Never deleted by retention.'),
        ),
        migrations.RunPython(create_sqlite_triggers, drop_sqlite_triggers),
    ]
