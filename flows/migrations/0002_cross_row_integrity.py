"""Cross-row integrity that Django's ForeignKey cannot express.

PostgreSQL: composite foreign keys onto the (flow_version, id) / (id, session) unique pairs the
models declare, deferred to commit like Django's own keys. SQLite cannot add constraints to
existing tables, so the same rules are triggers there.
"""

from django.db import migrations

# (table, name, columns, referenced table, referenced columns)
COMPOSITE_KEYS = [
    ("flows_steptransition", "transition_source_in_version", "flow_version_id, source_step_id",
     "flows_step", "flow_version_id, id"),
    ("flows_steptransition", "transition_target_in_version", "flow_version_id, target_step_id",
     "flows_step", "flow_version_id, id"),
    ("flows_liveflowsessionstep", "sessionstep_session_version", "session_id, flow_version_id",
     "flows_liveflowsession", "id, flow_version_id"),
    ("flows_liveflowsessionstep", "sessionstep_step_in_version", "flow_version_id, step_id",
     "flows_step", "flow_version_id, id"),
    ("flows_liveflowsession", "session_current_step_own", "current_step_id, id",
     "flows_liveflowsessionstep", "id, session_id"),
]

# SQLite: (name, table, condition that must hold for NEW, message)
SQLITE_RULES = [
    ("transition_in_version", "flows_steptransition",
     "(SELECT COUNT(*) FROM flows_step WHERE flow_version_id = NEW.flow_version_id "
     "AND id IN (NEW.source_step_id, NEW.target_step_id)) = "
     "(CASE WHEN NEW.source_step_id = NEW.target_step_id THEN 1 ELSE 2 END)",
     "a transition must join two steps of its own flow version"),
    ("sessionstep_in_version", "flows_liveflowsessionstep",
     "EXISTS (SELECT 1 FROM flows_liveflowsession WHERE id = NEW.session_id "
     "AND flow_version_id = NEW.flow_version_id) AND EXISTS (SELECT 1 FROM flows_step "
     "WHERE id = NEW.step_id AND flow_version_id = NEW.flow_version_id)",
     "a recorded step must run a step of the flow version of its session"),
    ("session_current_step_own", "flows_liveflowsession",
     "NEW.current_step_id IS NULL OR EXISTS (SELECT 1 FROM flows_liveflowsessionstep "
     "WHERE id = NEW.current_step_id AND session_id = NEW.id)",
     "the current step of a session must be one of its own recorded steps"),
]


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for table, name, columns, ref_table, ref_columns in COMPOSITE_KEYS:
            schema_editor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) "
                f"REFERENCES {ref_table} ({ref_columns}) DEFERRABLE INITIALLY DEFERRED"
            )
    elif connection.vendor == "sqlite":
        for name, table, condition, message in SQLITE_RULES:
            for event in ("INSERT", "UPDATE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {name}_{event.lower()} BEFORE {event} ON {table} "
                    f"FOR EACH ROW WHEN NOT ({condition}) "
                    f"BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {message}'); END"
                )


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for table, name, *_ in COMPOSITE_KEYS:
            schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
    elif connection.vendor == "sqlite":
        for name, *_ in SQLITE_RULES:
            for event in ("insert", "update"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")


class Migration(migrations.Migration):
    dependencies = [("flows", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
