"""A live flow sessions import publishes what it changed in stored sessions, and a status it
changes is a status change for webhooks too."""

import io
import json

import pytest
from django.core.management import call_command

from flows.live import STATUS_CHANGED, UPDATED
from flows.models import SessionStatus
from tests.flows.factories import make_live_flow, make_session

pytestmark = pytest.mark.django_db(transaction=True)


def exported(tenant, live_flow):
    out = io.StringIO()
    call_command("export_live_flow_sessions", "--org", tenant.organization.pk, "--live-flow", str(live_flow.pk),
                 "--no-progress", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def imported(tenant, live_flow, tmp_path, body):
    path = tmp_path / "sessions.json"
    path.write_text(json.dumps(body))
    out = io.StringIO()
    call_command("import_live_flow_sessions", str(path), "--org", tenant.organization.pk, "--live-flow",
                 str(live_flow.pk), "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


def test_an_import_that_changes_a_status_says_so(tenant, heard, tmp_path):
    live_flow = make_live_flow(tenant.organization)
    moved, renamed = (make_session(live_flow, status=SessionStatus.RUNNING) for _ in range(2))
    body = exported(tenant, live_flow)
    heard.clear()
    for session in body:
        if session["id"] == str(moved.pk):
            session["status"] = SessionStatus.FINISHED
        else:
            session["inputs"] = {"q": "changed"}
    assert imported(tenant, live_flow, tmp_path, body).startswith("created 0, updated 2")
    said = sorted((event.channel.rsplit(":", 1)[-1], event.type) for event in heard)
    assert said == sorted([
        (str(moved.pk), UPDATED), (str(moved.pk), STATUS_CHANGED), (str(renamed.pk), UPDATED),
    ])
    assert next(e for e in heard if e.type == STATUS_CHANGED).data["status"] == SessionStatus.FINISHED
