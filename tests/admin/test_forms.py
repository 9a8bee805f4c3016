"""Editing through the admin: JSON fields, the flow graph's rules, API keys, stored counters."""

import json

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import ApiKey
from chat.models import ChatSession
from flows.models import FlowVersion, LiveFlowSession, Step, StepTransition
from messaging.models import Agent, MessageFlow
from sessions_app.models import UserSession
from tests.admin.conftest import branching_version
from tests.admin.helpers import add_inline_row, admin_url, page_form_data

pytestmark = pytest.mark.django_db


def edit(client, obj, **changes):
    """Post the object's change page with these fields changed; (response, page data)."""
    url = admin_url(type(obj), "change", obj.pk)
    data = page_form_data(client.get(url))
    data.update(changes)
    return client.post(url, data), data


def field_errors(response, name):
    return response.context["adminform"].form.errors.get(name)


def test_json_fields_are_pretty_printed(staff_client, mine):
    session = mine.objects[UserSession]
    response = staff_client.get(admin_url(UserSession, "change", session.pk))
    assert '"username": "alice"' in response.context["adminform"].form["user_info"].value()
    assert response.context["adminform"].form["user_info"].value().startswith('{\n  "id": ')


@pytest.mark.parametrize(
    ("model", "field", "value", "message"),
    [
        (LiveFlowSession, "inputs", '{"q": ', "Enter valid JSON: Expecting value: line 1 column 7 (char 6)."),
        (LiveFlowSession, "inputs", "[1, 2]", "Enter a JSON object ({...})."),
        (MessageFlow, "settings", '{"security": 5}', "security: Must be a JSON object."),
        (UserSession, "user_info", "42", "Must be a user id string or an object with id, username, image and email."),
        (UserSession, "tutorial_progress", '"half"', "A number is required."),
        (UserSession, "quick_replies", '"\\u0000"', "Null characters (\\u0000) are not allowed."),
    ],
)
def test_invalid_json_is_refused_at_the_field(staff_client, mine, model, field, value, message):
    obj = mine.objects[model]
    before = getattr(obj, field)
    response, _ = edit(staff_client, obj, **{field: value})
    assert response.status_code == 200
    assert message in field_errors(response, field)
    # What was typed stays in the box, to be corrected (valid JSON comes back indented).
    shown = response.context["adminform"].form[field].value()
    if message.startswith("Enter valid JSON"):
        assert shown == value
    else:
        assert json.loads(shown) == json.loads(value)
    obj.refresh_from_db()
    assert getattr(obj, field) == before


def test_blank_json_means_the_columns_default(staff_client, mine):
    session = mine.objects[LiveFlowSession]
    response, _ = edit(staff_client, session, inputs="")
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.inputs == {}


def test_a_transition_into_another_version_cannot_be_saved(staff_client, mine):
    version, steps = branching_version(mine.tenant.organization)
    other_step = mine.objects[Step]  # a step of the fixture's other version
    url = admin_url(FlowVersion, "change", version.pk)
    data = page_form_data(staff_client.get(url))
    add_inline_row(data, "transitions", source_step=str(steps["billing_reply"].pk), target_step=str(other_step.pk), label="x")
    response = staff_client.post(url, data)
    assert response.status_code == 200
    formset = next(f for f in response.context["inline_admin_formsets"] if f.formset.model is StepTransition).formset
    assert formset.forms[-1].errors["target_step"] == [
        "Not a step of this flow version: a transition joins two steps of its own version."
    ]
    assert not StepTransition.objects.filter(label="x").exists()
    # The database refuses it too (PostgreSQL checks the composite key at commit: check it now).
    with pytest.raises(IntegrityError), transaction.atomic():
        StepTransition.objects.create(flow_version=version, source_step=steps["start"], target_step=other_step)
        connection.check_constraints()


def test_a_graph_is_saved_with_its_steps_and_transitions(staff_client, mine):
    version, steps = branching_version(mine.tenant.organization)
    url = admin_url(FlowVersion, "change", version.pk)
    data = page_form_data(staff_client.get(url))
    add_inline_row(data, "transitions", source_step=str(steps["billing_reply"].pk), target_step=str(steps["start"].pk), label="again")
    add_inline_row(data, "steps", name="escalate", step_type="LLM", prompt_template='{"type": "text"}')
    response = staff_client.post(url, data)
    assert response.status_code == 302
    assert StepTransition.objects.get(label="again").source_step_id == steps["billing_reply"].pk
    assert Step.objects.get(flow_version=version, name="escalate").prompt_template == {"type": "text"}
    page = staff_client.get(url).content.decode()
    assert page.count('class="step ') == 5 and ">again</text>" in page


def test_a_version_needs_exactly_one_start_and_unique_names(staff_client, mine):
    version, _ = branching_version(mine.tenant.organization)
    url = admin_url(FlowVersion, "change", version.pk)
    data = page_form_data(staff_client.get(url))
    add_inline_row(data, "steps", name="classify", step_type="START", prompt_template="")
    response = staff_client.post(url, data)
    assert response.status_code == 200
    formset = next(f for f in response.context["inline_admin_formsets"] if f.formset.model is Step).formset
    assert formset.non_form_errors() == ["A version needs exactly one START step; this one would have 2."]
    assert formset.forms[-1].errors["name"] == ["Step names must be unique within a version."]
    assert version.steps.count() == 4


def test_a_version_sessions_ran_is_read_only(staff_client, mine):
    version = mine.objects[FlowVersion]
    response = staff_client.get(admin_url(FlowVersion, "change", version.pk))
    assert b"Sessions have run this version, so its graph is read-only" in response.content
    for inline in response.context["inline_admin_formsets"]:
        assert not inline.has_change_permission and not inline.has_add_permission


def test_creating_an_api_key_shows_it_once_and_stores_it_hashed(staff_client, mine):
    response = staff_client.post(
        admin_url(ApiKey, "add"),
        {"name": "zapier", "user": mine.tenant.user.pk, "organization": mine.tenant.organization.pk, "workspace": ""},
        follow=True,
    )
    (shown,) = [str(m) for m in response.context["messages"] if "The new API key is" in str(m)]
    raw = shown.split("The new API key is ")[1].split(" ")[0]
    key = ApiKey.objects.get(name="zapier")
    assert raw.startswith(key.prefix) and key.matches(raw) and raw not in key.key_hash
    from tests.conftest import key_client

    assert key_client(raw).get("/live_flows/").status_code == 200
    # Its page shows the prefix only, never the key.
    assert raw.encode() not in staff_client.get(admin_url(ApiKey, "change", key.pk)).content

    staff_client.post(admin_url(ApiKey, "changelist"), {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key_client(raw).get("/live_flows/").status_code == 401


def test_chat_summaries_stay_exact_when_messages_are_edited(staff_client, mine):
    session = mine.objects[ChatSession]
    url = admin_url(ChatSession, "change", session.pk)
    data = page_form_data(staff_client.get(url))
    add_inline_row(data, "messages", role="user", content="A late question", tokens_used="", image_urls="[]",
                   created_at_0="2030-01-01", created_at_1="10:00:00")
    data["messages-0-DELETE"] = "on"  # the first user message: the preview moves on
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    session.refresh_from_db()
    assert session.message_count == 2
    assert session.preview == "A late question"
    assert session.last_message_at.year == 2030


def test_message_flow_edits_name_the_agent_and_bump_the_version(staff_client, mine):
    flow = mine.objects[MessageFlow]
    response, _ = edit(staff_client, flow, agent_name="agent_new", name="Renamed")
    assert response.status_code == 302
    flow.refresh_from_db()
    assert (flow.name, flow.agent.agent_id, flow.agent.workspace_id, flow.version) == (
        "Renamed", "agent_new", flow.workspace_id, 1,
    )
    assert Agent.objects.filter(workspace=flow.workspace, agent_id="agent_new").count() == 1


def test_a_message_flow_added_in_the_admin_starts_from_the_vendors_default_settings(staff_client, mine):
    response = staff_client.get(admin_url(MessageFlow, "add"))
    data = page_form_data(response)
    assert json.loads(data["settings"]) == {
        "responseSettings": {
            "delay": 0,
            "workingHours": {"enabled": False, "start": "09:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": ""},
        },
        "security": {"hipaaCompliance": False},
    }
    data.update(id="mf_added", workspace=mine.tenant.workspace.pk, name="Added", agent_name="agent_added",
                direction="outbound", message_channel="Email", prompt="Hi")
    response = staff_client.post(admin_url(MessageFlow, "add"), data)
    assert response.status_code == 302, field_errors(response, "settings")
    assert MessageFlow.objects.get(pk="mf_added").settings == json.loads(data["settings"])


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ('{"responseSettings": {"delay": "soon"}}', "responseSettings.delay", "Must be a number of seconds, 0 or more."),
        ('{"responseSettings": {"workingHours": {"enabled": "yes"}}}', "responseSettings.workingHours.enabled",
         "Must be true or false."),
        ('{"security": {"hipaaCompliance": 1}}', "security.hipaaCompliance", "Must be true or false."),
    ],
)
def test_message_flow_settings_keep_the_apis_types_in_the_admin(staff_client, mine, value, key, message):
    flow = mine.objects[MessageFlow]
    response, _ = edit(staff_client, flow, settings=value)
    assert response.status_code == 200
    (error,) = field_errors(response, "settings")
    assert error == f"{key}: {message}"
    flow.refresh_from_db()
    assert flow.settings == {"security": {}} and flow.version == 0
