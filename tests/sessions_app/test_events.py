"""Every change to a user session is published once, after commit, as GET one answers it."""

import copy

import pytest

from sessions_app.models import UserSession

from .conftest import FIXTURE, make_session, run_import, write_records


def updates(heard):
    return [(event.type, event.channel, event.organization_id) for event in heard]


@pytest.fixture
def session(tenant):
    return make_session(tenant.user, "aB3dE5fG7hJ9", organization_id=tenant.organization.pk)


@pytest.mark.django_db(transaction=True)
def test_rest_writes_publish_the_session_as_get_answers_it(tenant, session, heard):
    channel = f"user_session:{session.pk}"
    assert tenant.client.put("/session/aB3dE5fG7hJ9", {"name": "renamed"}, format="json").status_code == 200
    assert updates(heard) == [("user_session.updated", channel, tenant.organization.pk)]
    assert heard[0].data == tenant.client.get("/session/aB3dE5fG7hJ9").json()
    item = {"contentType": "user", "content": "hi"}
    assert tenant.client.post("/session/aB3dE5fG7hJ9/dialogue", item, format="json").status_code == 201
    assert tenant.client.post("/session/resume/aB3dE5fG7hJ9").status_code == 200
    assert len(heard) == 3
    assert heard[-1].data == tenant.client.get("/session/aB3dE5fG7hJ9").json()


@pytest.mark.django_db(transaction=True)
def test_a_new_session_is_published(tenant, heard):
    session_id = tenant.client.post("/session/new?language=fr").json()["sessionId"]
    pk = UserSession.objects.get(session_id=session_id).pk
    assert updates(heard) == [("user_session.updated", f"user_session:{pk}", tenant.organization.pk)]
    assert heard[0].data == tenant.client.get(f"/session/{session_id}").json()


@pytest.mark.django_db(transaction=True)
def test_a_refused_write_publishes_nothing(tenant, session, heard):
    assert tenant.client.put("/session/aB3dE5fG7hJ9", {"easyMode": "very"}, format="json").status_code == 400
    assert heard == []


@pytest.mark.django_db(transaction=True)
def test_an_import_publishes_the_sessions_it_changed(tenant, records, tmp_path, heard):
    run_import(FIXTURE, "--user", "alice")
    assert heard == []  # new sessions: nobody listens to them yet
    changed = copy.deepcopy(records)
    changed[1]["name"] = "Renommée"
    run_import(write_records(tmp_path, changed), "--user", "alice")
    session = UserSession.objects.get(session_id=changed[1]["sessionId"])
    assert [event.channel for event in heard] == [f"user_session:{session.pk}"]
    assert heard[0].data["name"] == "Renommée"


@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_publishes(tenant, session, heard, admin_client):
    from tests.admin.helpers import admin_url, page_form_data

    url = admin_url(UserSession, "change", session.pk)
    data = page_form_data(admin_client.get(url))
    data["name"] = "Edited by staff"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    assert [event.data["name"] for event in heard] == ["Edited by staff"]


@pytest.mark.django_db(transaction=True)
def test_deleting_in_the_admin_or_through_rest_tells_the_sessions_sockets(tenant, session, heard, admin_client):
    from tests.admin.helpers import admin_url

    other = make_session(tenant.user, "zY9xW8vU7tS6", organization_id=tenant.organization.pk)
    response = admin_client.post(admin_url(UserSession, "delete", session.pk), {"post": "yes"})
    assert response.status_code == 302
    response = admin_client.post(admin_url(UserSession, "changelist"), {
        "action": "delete_selected", "_selected_action": [other.pk], "post": "yes"})
    assert response.status_code == 302
    third = make_session(tenant.user, "qR5pO4nM3lK2", organization_id=tenant.organization.pk)
    assert tenant.client.delete("/session/qR5pO4nM3lK2").status_code == 200
    assert [(event.type, event.channel, event.data) for event in heard] == [
        ("user_session.deleted", f"user_session:{s.pk}", {"sessionId": s.session_id}) for s in (session, other, third)]
    assert not UserSession.objects.exists()
