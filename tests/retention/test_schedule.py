"""apply_retention runs daily from the beat schedule, and when `make run` starts."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import make_tenant
from tests.retention.conftest import run

ORG = "org_u13TesTDumMyEe5P"


@pytest.fixture
def org(db):
    return make_tenant(ORG, "alice").organization


def test_the_beat_schedule_runs_apply_retention_daily(org):
    from celery.schedules import crontab

    from config.celery import app
    from retention.tasks import apply_retention

    entry = next(e for e in app.conf.beat_schedule.values() if e["task"] == "retention.apply_retention")
    assert isinstance(entry["schedule"], crontab)
    assert apply_retention.name == "retention.apply_retention"
    run("set_retention", ORG, "--chat-sessions", "30")
    assert apply_retention() == "deleted 0 live flow sessions, 0 user sessions, 0 chat sessions"


def test_make_run_applies_retention_after_the_demo_and_before_serving():
    lines = [line for line in (Path(settings.BASE_DIR) / "scripts" / "run").read_text().splitlines()
             if line.startswith((".venv", "exec", "scripts/"))]
    commands = [next((name for name in ("bootstrap", "demo", "apply_retention", "runserver") if name in line), None)
                for line in lines]
    commands = [name for name in commands if name]
    assert commands == ["bootstrap", "demo", "apply_retention", "runserver"]
