import uuid
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction

from flows import models
from tests.flows.factories import make_live_flow, make_session, make_version, new_live_flow_body

GRAPH = {
    "steps": [
        {"name": "start", "step_type": "START"},
        {"name": "classify", "step_type": "LLM", "prompt_template": {"type": "text", "text": "${INPUTS.q}"}},
        {"name": "ask", "step_type": "USER_INPUT", "prompt_template": {"type": "text", "text": "Which one?"}},
    ],
    "step_transitions": [
        {"source_step": "start", "target_step": "classify"},
        {"source_step": "classify", "target_step": "ask", "label": "unclear"},
    ],
}


@pytest.fixture
def flow(tenant):
    return models.Flow.objects.create(organization=tenant.organization, name="Triage")


def test_flow_crud(tenant):
    response = tenant.client.post("/flows", {"name": "Triage", "description": "d"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "Triage" and body["organisation_id"] == tenant.organization.pk
    assert body["versions_count"] == 0
    flow_id = body["id"]
    assert tenant.client.get("/flows/").json()[0]["id"] == flow_id
    response = tenant.client.patch(f"/flows/{flow_id}", {"description": "new"}, format="json")
    assert response.status_code == 200 and response.json()["description"] == "new"
    response = tenant.client.delete(f"/flows/{flow_id}/")
    assert (response.status_code, response["Content-Type"], response.content) == (200, "application/json", b"null")
    assert not models.Flow.objects.exists()


def test_flow_bad_input(tenant):
    for body in ({}, {"name": ""}, {"name": 5}, {"name": "x", "id": "nope"}):
        response = tenant.client.post("/flows", body, format="json")
        assert response.status_code == 422, body
    assert not models.Flow.objects.exists()


def test_create_version_with_graph_by_names(tenant, flow):
    response = tenant.client.post(f"/flows/{flow.pk}/versions", GRAPH, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    by_name = {s["name"]: s for s in body["steps"]}
    assert [s["name"] for s in body["steps"]] == ["start", "classify", "ask"]
    assert body["flow_id"] == str(flow.pk)
    assert [(t["source_step_id"], t["target_step_id"], t["label"]) for t in body["step_transitions"]] == sorted(
        [
            (by_name["start"]["id"], by_name["classify"]["id"], None),
            (by_name["classify"]["id"], by_name["ask"]["id"], "unclear"),
        ],
        key=lambda t: [x["id"] for x in body["step_transitions"]].index(
            next(x["id"] for x in body["step_transitions"] if x["source_step_id"] == t[0])
        ),
    )
    assert models.Step.objects.filter(flow_version_id=body["id"]).count() == 3
    assert tenant.client.get(f"/flows/{flow.pk}/versions/{body['id']}/").json() == body


def test_create_version_with_ids(tenant, flow):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    graph = {
        "steps": [{"id": a, "name": "start", "step_type": "START"}, {"id": b, "name": "llm", "step_type": "LLM"}],
        "step_transitions": [{"source_step_id": a, "target_step_id": b, "label": "go"}],
    }
    response = tenant.client.post(f"/flows/{flow.pk}/versions", graph, format="json")
    assert response.status_code == 200
    assert response.json()["step_transitions"][0]["source_step_id"] == a


@pytest.mark.parametrize(
    "graph, loc",
    [
        ({"steps": [{"name": "a", "step_type": "LLM"}]}, ["body", "steps"]),
        ({"steps": [{"name": "a", "step_type": "START"}, {"name": "b", "step_type": "START"}]}, ["body", "steps"]),
        ({"steps": [{"name": "a", "step_type": "DANCE"}]}, ["body", "steps", 0, "step_type"]),
        ({"steps": [{"name": "a", "step_type": "START"}],
          "step_transitions": [{"source_step_id": str(uuid.uuid4()), "target_step": "a"}]},
         ["body", "step_transitions", 0, "source_step_id"]),
        ({"steps": [{"name": "a", "step_type": "START"}],
          "step_transitions": [{"source_step_id": "not-a-uuid", "target_step": "a"}]},
         ["body", "step_transitions", 0, "source_step_id"]),
        ({"steps": [{"name": "a", "step_type": "START"}, {"name": "a", "step_type": "LLM"}]},
         ["body", "steps", 1, "name"]),
        ({"steps": "nope"}, ["body", "steps"]),
        ({}, ["body", "steps"]),
    ],
)
def test_invalid_graph_is_422_and_writes_nothing(tenant, flow, graph, loc):
    response = tenant.client.post(f"/flows/{flow.pk}/versions", graph, format="json")
    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]][0] == loc
    assert not models.FlowVersion.objects.exists() and not models.Step.objects.exists()


def test_transition_into_another_version_is_refused(tenant, flow):
    other_version, other_steps = make_version(tenant.organization)
    graph = {
        "steps": [{"name": "start", "step_type": "START"}],
        "step_transitions": [{"source_step": "start", "target_step_id": str(other_steps[1].id)}],
    }
    response = tenant.client.post(f"/flows/{flow.pk}/versions", graph, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "step_transitions", 0, "target_step_id"]
    assert response.json()["detail"][0]["msg"] == "Not a step of this version."
    assert models.FlowVersion.objects.count() == 1


def test_step_id_of_another_version_is_refused(tenant, flow):
    _, other_steps = make_version(tenant.organization)
    graph = {"steps": [{"id": str(other_steps[0].id), "name": "start", "step_type": "START"}]}
    response = tenant.client.post(f"/flows/{flow.pk}/versions", graph, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "steps", 0, "id"]
    assert not models.FlowVersion.objects.filter(flow=flow).exists()


def test_version_is_replaced_until_sessions_ran_it(tenant, flow):
    version_id = tenant.client.post(f"/flows/{flow.pk}/versions", GRAPH, format="json").json()["id"]
    smaller = {"steps": [{"name": "only", "step_type": "START"}]}
    response = tenant.client.put(f"/flows/{flow.pk}/versions/{version_id}", smaller, format="json")
    assert response.status_code == 200
    assert [s["name"] for s in response.json()["steps"]] == ["only"]
    assert response.json()["step_transitions"] == []

    live_flow = models.LiveFlow.objects.create(organization=tenant.organization, current_version_id=version_id)
    assert tenant.client.post(f"/live_flows/{live_flow.pk}/sessions", {}, format="json").status_code == 200
    response = tenant.client.put(f"/flows/{flow.pk}/versions/{version_id}", GRAPH, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Sessions have run this version; create a new version instead of changing it."
    }
    assert list(models.Step.objects.filter(flow_version_id=version_id).values_list("name", flat=True)) == ["only"]
    response = tenant.client.delete(f"/flows/{flow.pk}/versions/{version_id}")
    assert response.status_code == 409
    assert models.FlowVersion.objects.filter(pk=version_id).exists()


def test_unused_version_is_deleted_with_200_and_null(tenant, flow):
    version_id = tenant.client.post(f"/flows/{flow.pk}/versions", GRAPH, format="json").json()["id"]
    response = tenant.client.delete(f"/flows/{flow.pk}/versions/{version_id}/")
    assert (response.status_code, response.content) == (200, b"null")
    assert not models.FlowVersion.objects.exists() and not models.Step.objects.exists()


def test_live_flow_crud(tenant, flow):
    version_id = tenant.client.post(f"/flows/{flow.pk}/versions", GRAPH, format="json").json()["id"]
    version = tenant.client.get(f"/flows/{flow.pk}/versions/{version_id}").json()
    response = tenant.client.post(
        "/live_flows/", {"name": "Inbox", "description": "d", "current_version": version_id}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    live_flow = models.LiveFlow.objects.get()
    assert (live_flow.name, live_flow.description, live_flow.organization_id) == ("Inbox", "d", tenant.organization.pk)
    assert body == new_live_flow_body(live_flow, version)
    live_flow_id = body["id"]
    session = tenant.client.post(f"/live_flows/{live_flow_id}/sessions", {}, format="json").json()
    sessions = tenant.client.get(f"/live_flows/{live_flow_id}/sessions").json()
    assert [s["id"] for s in sessions] == [session["id"]]
    body = tenant.client.get(f"/live_flows/{live_flow_id}").json()
    assert body["sessions"] == sessions
    response = tenant.client.patch(f"/live_flows/{live_flow_id}/", {"current_version": None}, format="json")
    assert response.status_code == 200
    assert response.json()["current_version"] is None
    assert response.json()["sessions"] == sessions  # the sessions ran the version they ran
    response = tenant.client.delete(f"/live_flows/{live_flow_id}")
    assert (response.status_code, response.content) == (200, b"null")
    assert not models.LiveFlow.objects.exists() and not models.LiveFlowSession.objects.exists()


def test_live_flow_cannot_run_another_tenants_version(tenant, other_tenant):
    other_version, _ = make_version(other_tenant.organization)
    response = tenant.client.post(
        "/live_flows", {"name": "x", "current_version": str(other_version.pk)}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "current_version"]
    assert not models.LiveFlow.objects.exists()


def test_live_flows_list_query_count_is_fixed(tenant, django_assert_num_queries):
    from django.utils import timezone

    tenant.key.last_used_at = timezone.now()
    tenant.key.save()
    make_session(make_live_flow(tenant.organization), n_recorded=1)
    # key (with its membership); live flows; their versions with steps and transitions; the sessions
    # with their recorded steps (one stream)
    with django_assert_num_queries(4):
        assert len(tenant.client.get("/live_flows").json()) == 1
    for n in range(10):
        live_flow = make_live_flow(tenant.organization, n_steps=2 + n)
        for _ in range(n):
            make_session(live_flow, n_recorded=n)
        if n % 3 == 0:
            # sessions that ran an earlier version than the current one
            live_flow.current_version, _ = make_version(tenant.organization, n_steps=4)
            live_flow.save()
            make_session(live_flow, n_recorded=2)
    with django_assert_num_queries(4):
        body = tenant.client.get("/live_flows").json()
    assert len(body) == 11
    assert sum(len(live_flow["sessions"]) for live_flow in body) == 1 + sum(range(10)) + 4


def test_other_tenant_cannot_see_or_touch_flows(tenant, other_tenant, flow):
    version, _ = make_version(tenant.organization)
    assert other_tenant.client.get("/flows").json() == []
    for method, url in [
        ("get", f"/flows/{flow.pk}"),
        ("patch", f"/flows/{flow.pk}"),
        ("delete", f"/flows/{flow.pk}"),
        ("get", f"/flows/{version.flow_id}/versions/{version.pk}"),
        ("post", f"/flows/{flow.pk}/versions"),
    ]:
        response = getattr(other_tenant.client, method)(url, GRAPH if method == "post" else {}, format="json")
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), url
    assert models.Flow.objects.filter(pk=flow.pk).exists()


# --- integrity the database enforces, whatever the code above it does -----------------------


@contextmanager
def refused():
    """The write inside must fail; PostgreSQL checks these keys at commit, so check them now."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield
        connection.check_constraints()


def test_database_refuses_transition_across_versions(tenant):
    version, steps = make_version(tenant.organization)
    _, other_steps = make_version(tenant.organization)
    with refused():
        models.StepTransition.objects.create(flow_version=version, source_step=steps[0], target_step=other_steps[1])


def test_database_refuses_recorded_step_of_another_version(tenant):
    live_flow = make_live_flow(tenant.organization)
    session = make_session(live_flow, n_recorded=0)
    _, other_steps = make_version(tenant.organization)
    with refused():
        models.LiveFlowSessionStep.objects.create(
            session=session, flow_version=session.flow_version, step=other_steps[0], status=models.SessionStatus.NEW
        )


def test_database_refuses_current_step_of_another_session(tenant):
    live_flow = make_live_flow(tenant.organization)
    first = make_session(live_flow, n_recorded=1)
    second = make_session(live_flow, n_recorded=1)
    with refused():
        second.current_step = first.current_step
        second.save()


def test_database_refuses_second_start_step(tenant):
    version, _ = make_version(tenant.organization)
    with refused():
        models.Step.objects.create(flow_version=version, name="again", step_type="START")
