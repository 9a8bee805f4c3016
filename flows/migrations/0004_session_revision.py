from importlib import import_module

from django.db import migrations, models

# As in 0003: SQLite adds the column by rebuilding the table, which the cross-row triggers of 0002
# would break, so they are dropped first and created again after (0003's own steps, reused).
triggers = import_module("flows.migrations.0003_engine_attempts_and_lease")
drop_sqlite_triggers, create_sqlite_triggers = triggers.drop_sqlite_triggers, triggers.create_sqlite_triggers


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
