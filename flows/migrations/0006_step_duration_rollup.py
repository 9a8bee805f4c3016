"""The steps' durations rollup (StepDurationDay), kept by triggers on the step runs.

Every write path (the engine, imports with COPY, admin and REST deletes, retention, cascades)
writes flows_liveflowsessionstep; triggers there keep the rollup exact whichever wrote.
PostgreSQL: statement triggers with transition tables, so that a bulk import or delete is
aggregated once per statement. SQLite: row triggers. A run counts when ended (FINISHED, FAILED),
in the bucket of its duration (flows.models.duration_bucket, the same formula), on the UTC day it
started, for the organization of its flow (the run's version's flow: it exists as long as the run,
whatever order a cascade deletes sessions and runs in). A count that reaches 0 is deleted.

SQLite drops a table's triggers when a migration rebuilds it: a later migration that alters
flows_liveflowsessionstep on SQLite must drop and create these again, as 0003 does for 0002's.
"""

import django.db.models.deletion
from django.db import migrations, models

ROLLUP = "flows_stepdurationday"
RUNS = "flows_liveflowsessionstep"
ENDED = "('FINISHED', 'FAILED')"
RATIO = "1.05"  # flows.models.BUCKET_RATIO

# --- PostgreSQL ----------------------------------------------------------------------------------


def pg_bucket(run):
    ms = f"greatest(0, floor(extract(epoch FROM {run}.updated_at - {run}.created_at) * 1000))"
    return f"floor(ln((1 + {ms})::float8) / ln({RATIO}::float8))::integer"


# The runs a statement added (+1) and removed (-1); an update is both, netted per key below.
PG_SOURCES = {
    "insert": "SELECT *, 1 AS n FROM new_runs",
    "delete": "SELECT *, -1 AS n FROM old_runs",
    "update": "SELECT *, 1 AS n FROM new_runs UNION ALL SELECT *, -1 AS n FROM old_runs",
}
PG_KEY = "organization_id, step_id, day, bucket"
PG_MATCH = " AND ".join(f"{a}.{c} = {b}.{c}" for a, b in [("t", "d")] for c in PG_KEY.split(", "))


def pg_function(event):
    match_changed = PG_MATCH.replace("t.", "c.")
    return f"""
CREATE FUNCTION flows_step_durations_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE emptied bigint[];
BEGIN
    WITH delta AS (
        SELECT f.organization_id, r.step_id, (r.created_at AT TIME ZONE 'UTC')::date AS day,
               {pg_bucket("r")} AS bucket, sum(r.n) AS n
        FROM ({PG_SOURCES[event]}) r
        JOIN flows_flowversion v ON v.id = r.flow_version_id
        JOIN flows_flow f ON f.id = v.flow_id
        WHERE r.status IN {ENDED}
        GROUP BY 1, 2, 3, 4 HAVING sum(r.n) <> 0
    ), changed AS (
        UPDATE {ROLLUP} t SET runs = greatest(t.runs + d.n, 0) FROM delta d WHERE {PG_MATCH}
        RETURNING t.id, t.runs, t.organization_id, t.step_id, t.day, t.bucket
    ), added AS (
        INSERT INTO {ROLLUP} AS t ({PG_KEY}, runs)
        SELECT {PG_KEY}, n FROM delta d
        WHERE d.n > 0 AND NOT EXISTS (SELECT 1 FROM changed c WHERE {match_changed})
        ON CONFLICT ({PG_KEY}) DO UPDATE SET runs = t.runs + EXCLUDED.runs
    )
    SELECT array_agg(id) INTO emptied FROM changed WHERE runs = 0;
    IF emptied IS NOT NULL THEN
        DELETE FROM {ROLLUP} WHERE id = ANY(emptied) AND runs = 0;
    END IF;
    RETURN NULL;
END $$"""


PG_REFERENCING = {
    "insert": "NEW TABLE AS new_runs",
    "delete": "OLD TABLE AS old_runs",
    # A column list (UPDATE OF ...) cannot have transition tables: every update fires, and the
    # runs whose status, times, step or version did not change net to nothing in the delta.
    "update": "OLD TABLE AS old_runs NEW TABLE AS new_runs",
}

# --- SQLite --------------------------------------------------------------------------------------


def sqlite_bucket(run):
    # Whole microseconds from the stored text ('YYYY-MM-DD HH:MM:SS[.ffffff]'), not julianday's
    # float, which is off by tens of microseconds and would move a run across a millisecond.
    us = (f"((strftime('%s', {run}.updated_at) - strftime('%s', {run}.created_at)) * 1000000 "
          f"+ CAST(substr({run}.updated_at, 21, 6) AS INTEGER) - CAST(substr({run}.created_at, 21, 6) AS INTEGER))")
    return f"CAST(ln(1 + max(0, {us}) / 1000) / ln({RATIO}) AS INTEGER)"


def sqlite_org(run):
    return (f"(SELECT f.organization_id FROM flows_flowversion v JOIN flows_flow f ON f.id = v.flow_id "
            f"WHERE v.id = {run}.flow_version_id)")


def sqlite_add(run):
    return (f"INSERT INTO {ROLLUP} (organization_id, step_id, day, bucket, runs) "
            f"SELECT {sqlite_org(run)}, {run}.step_id, date({run}.created_at), {sqlite_bucket(run)}, 1 "
            f"WHERE {run}.status IN {ENDED} "
            f"ON CONFLICT (organization_id, step_id, day, bucket) DO UPDATE SET runs = runs + 1;")


def sqlite_remove(run):
    key = (f"organization_id = {sqlite_org(run)} AND step_id = {run}.step_id AND day = date({run}.created_at) "
           f"AND bucket = {sqlite_bucket(run)}")
    return (f"UPDATE {ROLLUP} SET runs = max(runs - 1, 0) WHERE {run}.status IN {ENDED} AND {key}; "
            f"DELETE FROM {ROLLUP} WHERE runs = 0 AND {key};")


SQLITE_TRIGGERS = {
    "insert": ("AFTER INSERT", sqlite_add("NEW")),
    "delete": ("AFTER DELETE", sqlite_remove("OLD")),
    "update": ("AFTER UPDATE OF status, created_at, updated_at, step_id, session_id, flow_version_id",
               sqlite_remove("OLD") + " " + sqlite_add("NEW")),
}


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for event, referencing in PG_REFERENCING.items():
            schema_editor.execute(pg_function(event))
            schema_editor.execute(
                f"CREATE TRIGGER flows_step_durations_{event} AFTER {event.upper()} ON {RUNS} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION flows_step_durations_{event}()"
            )
    elif vendor == "sqlite":
        for event, (when, body) in SQLITE_TRIGGERS.items():
            schema_editor.execute(
                f"CREATE TRIGGER flows_step_durations_{event} {when} ON {RUNS} FOR EACH ROW BEGIN {body} END",
                None,  # no parameters: strftime's '%s' stays as written
            )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for event in PG_REFERENCING:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS flows_step_durations_{event} ON {RUNS}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS flows_step_durations_{event}()")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS flows_step_durations_{event}")


def backfill(apps, schema_editor):
    """The rollup of the runs already there: an update of every run that nets nothing would do it
    on PostgreSQL only, so the key is computed once here, in SQL, as the triggers do."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        day, bucket = "(r.created_at AT TIME ZONE 'UTC')::date", pg_bucket("r")
    else:
        day, bucket = "date(r.created_at)", sqlite_bucket("r")
    schema_editor.execute(
        f"INSERT INTO {ROLLUP} (organization_id, step_id, day, bucket, runs) "
        f"SELECT f.organization_id, r.step_id, {day}, {bucket}, count(*) FROM {RUNS} r "
        "JOIN flows_flowversion v ON v.id = r.flow_version_id JOIN flows_flow f ON f.id = v.flow_id "
        f"WHERE r.status IN {ENDED} GROUP BY 1, 2, 3, 4",
        None,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('flows', '0005_liveflowsession_retention_hold'),
    ]

    operations = [
        migrations.CreateModel(
            name='StepDurationDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('bucket', models.PositiveSmallIntegerField()),
                ('runs', models.PositiveIntegerField()),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('step', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='flows.step')),
            ],
            options={
                'ordering': ['organization', 'day', 'step', 'bucket'],
                'indexes': [models.Index(fields=['organization', 'day'], name='stepduration_org_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('organization', 'step', 'day', 'bucket'), name='stepduration_unique')],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
