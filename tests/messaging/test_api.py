import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKey, Workspace
from messaging.models import Agent, MessageFlow
from tests.conftest import make_tenant
from tests.messaging.conftest import NEW_FLOW, URL, field_error_body, make_flow, workspace_client


def listed(flow):
    """The documented list shape of a flow made by make_flow."""
    return {
        "_id": flow.id,
        "workspaceId": flow.workspace_id,
        "name": flow.name,
        "direction": flow.direction,
        "description": flow.description,
        "agent": flow.agent.agent_id,
        "settings": flow.settings,
        "prompt": flow.prompt,
        "isActive": flow.is_active,
        "autopilot": flow.autopilot,
        "messageChannel": flow.message_channel,
        "createdAt": flow.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updatedAt": flow.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --- headers and tenancy -------------------------------------------------------------------


def test_list_is_the_documented_shape_oldest_first(tenant, api):
    second = make_flow(tenant.workspace, 2, direction="outbound", message_channel="Email", settings={"security": {}})
    first = make_flow(tenant.workspace, 1)
    response = api.get(URL)
    assert response.status_code == 200
    assert response.json() == [listed(first), listed(second)]
    assert response.json()[0] == {
        "_id": "ws_org_u13TesTDumMyEe5P_flow1",
        "workspaceId": "ws_org_u13TesTDumMyEe5P",
        "name": "Flow 1",
        "direction": "bidirectional",
        "description": "Flow number 1",
        "agent": "agent_1",
        "settings": {},
        "prompt": "Be helpful.",
        "isActive": True,
        "autopilot": False,
        "messageChannel": "SMS",
        "createdAt": "2025-01-02T10:16:00Z",
        "updatedAt": "2025-01-02T10:16:30Z",
    }


@pytest.mark.parametrize("path", [URL, URL + "/"])
@pytest.mark.parametrize("header", ["Authorization", "Api-key", "x-api-key"])
def test_every_key_header_and_both_path_forms(tenant, path, header):
    make_flow(tenant.workspace)
    client = workspace_client(tenant.raw_key, tenant.workspace.pk, header=header)
    response = client.get(path)
    assert response.status_code == 200
    assert [flow["_id"] for flow in response.json()] == ["ws_org_u13TesTDumMyEe5P_flow1"]


def test_missing_workspace_header_is_400_saying_so(tenant):
    client = workspace_client(tenant.raw_key)
    for response in (client.get(URL), client.post(URL, NEW_FLOW, format="json")):
        assert response.status_code == 400
        assert response.json() == {
            "error": {
                "code": "validation_error",
                "message": "The x-workspace-id header is required.",
                "details": [{"field": "x-workspace-id", "message": "This header is required."}],
            }
        }
    assert not MessageFlow.objects.exists()


def test_workspace_outside_the_keys_organization_is_403(tenant, other_tenant):
    make_flow(other_tenant.workspace)
    for workspace_id in (other_tenant.workspace.pk, "ws_does_not_exist"):
        client = workspace_client(tenant.raw_key, workspace_id)
        for response in (
            client.get(URL),
            client.get(f"{URL}/{other_tenant.workspace.pk}_flow1"),
            client.post(URL, NEW_FLOW, format="json"),
        ):
            assert response.status_code == 403
            assert response.json() == {
                "error": {
                    "code": "forbidden",
                    "message": f"No access to workspace {workspace_id!r} in organization 'org_u13TesTDumMyEe5P'.",
                }
            }
    assert MessageFlow.objects.count() == 1


def test_missing_or_bad_key_is_401(tenant, anon):
    anon.credentials(HTTP_X_WORKSPACE_ID=tenant.workspace.pk)
    response = anon.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    response = workspace_client("fdk_" + "x" * 40, tenant.workspace.pk).get(URL)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "unauthorized", "message": "Invalid API key."}}


def test_key_narrowed_to_a_workspace(tenant, sibling_workspace):
    make_flow(tenant.workspace)
    make_flow(sibling_workspace)
    _, raw = ApiKey.generate(user=tenant.user, organization=tenant.organization, workspace=sibling_workspace)
    # Without the header, a narrowed key acts in its own workspace.
    response = workspace_client(raw).get(URL)
    assert [flow["_id"] for flow in response.json()] == ["ws_sibling_flow1"]
    response = workspace_client(raw, tenant.workspace.pk).get(URL)
    assert response.status_code == 403


def test_another_workspace_in_the_same_organization_is_invisible(tenant, api, sibling_workspace):
    mine = make_flow(tenant.workspace)
    theirs = make_flow(sibling_workspace, 2)
    assert [flow["_id"] for flow in api.get(URL).json()] == [mine.id]
    sibling = workspace_client(tenant.raw_key, sibling_workspace.pk)
    assert [flow["_id"] for flow in sibling.get(URL).json()] == [theirs.id]
    # Both directions: each workspace's flow is a 404 from the other, for every method.
    for client, flow in ((api, theirs), (sibling, mine)):
        path = f"{URL}/{flow.id}"
        for response in (
            client.get(path),
            client.put(path, {"description": "hijacked", "toggleAutopilot": True}, format="json"),
            client.patch(path, {"name": "hijacked"}, format="json"),
            client.delete(path),
        ):
            assert response.status_code == 404
            assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    for flow in (mine, theirs):
        stored = MessageFlow.objects.get(pk=flow.pk)
        assert (stored.name, stored.description, stored.autopilot, stored.version) == (
            flow.name, flow.description, False, 0
        )


def test_another_organizations_flow_is_404_both_ways(tenant, other_tenant, api):
    mine = make_flow(tenant.workspace)
    theirs = make_flow(other_tenant.workspace)
    other_api = workspace_client(other_tenant.raw_key, other_tenant.workspace.pk)
    for client, flow in ((api, theirs), (other_api, mine)):
        assert client.get(f"{URL}/{flow.id}").status_code == 404
        assert client.patch(f"{URL}/{flow.id}", {"name": "x"}, format="json").status_code == 404
        assert client.delete(f"{URL}/{flow.id}").status_code == 404
    assert [f["_id"] for f in api.get(URL).json()] == [mine.id]
    assert [f["_id"] for f in other_api.get(URL).json()] == [theirs.id]
    assert MessageFlow.objects.filter(name="x").count() == 0 and MessageFlow.objects.count() == 2


# --- POST ------------------------------------------------------------------------------------


def test_create_with_required_fields_only(tenant, api):
    response = api.post(URL, NEW_FLOW, format="json")
    assert response.status_code == 201
    body = response.json()
    flow = MessageFlow.objects.select_related("agent").get()
    assert len(body["_id"]) == 24 and int(body["_id"], 16) >= 0 and body["_id"] == flow.id
    assert response["Location"] == f"{URL}/{flow.id}"
    assert body == {
        "_id": flow.id,
        "workspaceId": tenant.workspace.pk,
        **{k: v for k, v in NEW_FLOW.items()},
        "description": None,
        # The vendor's defaults (CONTRACT.md, and its create page's answer).
        "settings": {
            "responseSettings": {
                "delay": 0,
                "workingHours": {
                    "enabled": False, "start": "09:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": "",
                },
            },
            "security": {"hipaaCompliance": False},
        },
        "isActive": True,
        "autopilot": False,
        "createdAt": body["createdAt"],
        "updatedAt": body["createdAt"],
        "__v": 0,
    }
    assert flow.agent.agent_id == "exampleAgentId1" and flow.agent.workspace_id == tenant.workspace.pk
    assert flow.initiation_message == "Hi! How can we help?"
    assert api.get(f"{URL}/{flow.id}").json() == body


def test_create_with_every_field_and_reuse_of_the_agent(tenant, api):
    settings = {
        "responseSettings": {"maxLength": 320},
        "security": {"blockedKeywords": ["password"]},
        "emailSettings": None,
        "custom": [1, 2],
    }
    body = {**NEW_FLOW, "description": "Example #1", "settings": settings, "isActive": False, "autopilot": True}
    first = api.post(URL, body, format="json")
    second = api.post(URL + "/", {**body, "name": "Second"}, format="json")
    assert first.status_code == second.status_code == 201
    # What is given is kept; the defaults fill in the documented keys it leaves out.
    stored_settings = {
        "responseSettings": {
            "delay": 0,
            "workingHours": {
                "enabled": False, "start": "09:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": "",
            },
            "maxLength": 320,
        },
        "security": {"hipaaCompliance": False, "blockedKeywords": ["password"]},
        "emailSettings": None,
        "custom": [1, 2],
    }
    assert {k: first.json()[k] for k in ("description", "settings", "isActive", "autopilot")} == {
        "description": "Example #1", "settings": stored_settings, "isActive": False, "autopilot": True
    }
    assert Agent.objects.count() == 1  # one row per agent id in the workspace
    assert [f["name"] for f in api.get(URL).json()] == ["SMS Flow #1", "Second"]


def test_same_agent_id_in_two_workspaces_is_two_agents(tenant, api, sibling_workspace):
    assert api.post(URL, NEW_FLOW, format="json").status_code == 201
    sibling = workspace_client(tenant.raw_key, sibling_workspace.pk)
    assert sibling.post(URL, NEW_FLOW, format="json").status_code == 201
    assert sorted(Agent.objects.values_list("workspace_id", "agent_id")) == [
        ("ws_org_u13TesTDumMyEe5P", "exampleAgentId1"), ("ws_sibling", "exampleAgentId1")
    ]


def test_missing_required_fields_are_listed(api):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [
        {"field": name, "message": "This field is required."}
        for name in ("name", "direction", "agent", "initiationMessage", "prompt", "messageChannel")
    ]
    assert not MessageFlow.objects.exists() and not Agent.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("direction", "sideways",
         '"sideways" is not a valid choice. Allowed values: inbound, outbound, bidirectional.'),
        ("direction", "Inbound", '"Inbound" is not a valid choice. Allowed values: inbound, outbound, bidirectional.'),
        ("direction", 1, '"1" is not a valid choice. Allowed values: inbound, outbound, bidirectional.'),
        ("messageChannel", "sms", '"sms" is not a valid choice. Allowed values: SMS, Email.'),
        ("messageChannel", "WhatsApp", '"WhatsApp" is not a valid choice. Allowed values: SMS, Email.'),
    ],
)
def test_unknown_enumeration_value_lists_the_allowed_ones(api, field, value, message):
    response = api.post(URL, {**NEW_FLOW, field: value}, format="json")
    assert response.status_code == 400
    assert response.json() == field_error_body(field, message)
    assert not MessageFlow.objects.exists() and not Agent.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"agent": 123}, "agent"),
        ({"agent": ""}, "agent"),
        ({"prompt": None}, "prompt"),
        ({"initiationMessage": ["hi"]}, "initiationMessage"),
        ({"description": 1}, "description"),
        ({"isActive": "true"}, "isActive"),
        ({"autopilot": 1}, "autopilot"),
        ({"settings": []}, "settings"),
        ({"settings": "{}"}, "settings"),
        ({"settings": {"responseSettings": "fast"}}, "settings.responseSettings"),
        ({"settings": {"security": []}}, "settings.security"),
        ({"settings": {"emailSettings": 1}}, "settings.emailSettings"),
        ({"toggleAutopilot": True}, "toggleAutopilot"),
        ({"_id": "abc"}, "_id"),
        ({"workspaceId": "ws_elsewhere"}, "workspaceId"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_400_and_write_nothing(api, change, field):
    response = api.post(URL, {**NEW_FLOW, **change}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [item["field"] for item in error["details"]] == [field]
    assert not MessageFlow.objects.exists() and not Agent.objects.exists()


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"{not json", "application/json", 400, "bad_request"),
        (b"", "application/json", 400, "validation_error"),  # no body: the required fields are listed
        (b"[1, 2]", "application/json", 400, "validation_error"),
        (b'"text"', "application/json", 400, "validation_error"),
        (b"name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(api, body, content_type, status, code):
    response = api.generic("POST", URL, body, content_type=content_type)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code
    assert not MessageFlow.objects.exists()


def test_oversized_body_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = api.post(URL, {**NEW_FLOW, "prompt": "x" * 4096}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not MessageFlow.objects.exists()


def test_echoed_read_only_keys_are_ignored(tenant, api):
    body = {**NEW_FLOW, "workspaceId": tenant.workspace.pk, "createdAt": "2020-01-01T00:00:00Z", "__v": 7}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["__v"] == 0 and not response.json()["createdAt"].startswith("2020")


# --- GET one, PUT, PATCH, DELETE -------------------------------------------------------------


def test_get_one_adds_initiation_message_and_version(tenant, api):
    flow = make_flow(tenant.workspace, version=3, initiation_message=None)
    for path in (f"{URL}/{flow.id}", f"{URL}/{flow.id}/"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.json() == {**listed(flow), "initiationMessage": None, "__v": 3}


def test_unknown_id_is_404(api):
    response = api.get(f"{URL}/000000000000000000000000")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_put_changes_description_and_settings(tenant, api):
    flow = make_flow(tenant.workspace)
    settings = {"emailSettings": {"fromName": "Acme"}}
    response = api.put(f"{URL}/{flow.id}", {"description": "New", "settings": settings}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "New" and body["settings"] == settings and body["__v"] == 1
    assert body["updatedAt"] != listed(flow)["updatedAt"] and body["createdAt"] == listed(flow)["createdAt"]
    stored = MessageFlow.objects.get(pk=flow.pk)
    assert (stored.description, stored.settings, stored.version, stored.autopilot) == ("New", settings, 1, False)
    assert api.get(f"{URL}/{flow.id}").json() == body


def test_toggle_autopilot_flips_it(tenant, api):
    flow = make_flow(tenant.workspace, autopilot=False)
    path = f"{URL}/{flow.id}"
    assert api.put(path, {"toggleAutopilot": True}, format="json").json()["autopilot"] is True
    assert MessageFlow.objects.get(pk=flow.pk).autopilot is True
    assert api.put(path, {"toggleAutopilot": True}, format="json").json()["autopilot"] is False
    # false leaves it alone, and an update that changes nothing is not a new version.
    response = api.put(path, {"toggleAutopilot": False}, format="json")
    assert response.json()["autopilot"] is False and response.json()["__v"] == 2
    assert api.patch(path, {"toggleAutopilot": True}, format="json").json()["autopilot"] is True
    assert MessageFlow.objects.get(pk=flow.pk).version == 3


def test_put_refuses_what_only_patch_changes(tenant, api):
    flow = make_flow(tenant.workspace)
    response = api.put(f"{URL}/{flow.id}", {"description": "New", "name": "Renamed"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "name", "message": "PUT changes only description, settings and toggleAutopilot; use PATCH."}
    ]
    stored = MessageFlow.objects.get(pk=flow.pk)
    assert (stored.name, stored.description, stored.version) == ("Flow 1", "Flow number 1", 0)


@pytest.mark.parametrize(
    "method, body, field",
    [
        ("put", {"settings": {"security": "none"}}, "settings.security"),
        ("put", {"toggleAutopilot": "yes"}, "toggleAutopilot"),
        ("put", {"description": "ok", "settings": None}, "settings"),
        ("patch", {"direction": "both"}, "direction"),
        ("patch", {"messageChannel": "Fax"}, "messageChannel"),
        ("patch", {"autopilot": True, "toggleAutopilot": True}, "toggleAutopilot"),
        ("patch", {"agent": ""}, "agent"),
        ("patch", {"_id": "another"}, "_id"),
        ("patch", {"name": "ok", "isActive": None}, "isActive"),
    ],
)
def test_bad_updates_are_400_and_change_nothing(tenant, api, method, body, field):
    flow = make_flow(tenant.workspace)
    response = getattr(api, method)(f"{URL}/{flow.id}", body, format="json")
    assert response.status_code == 400
    assert [item["field"] for item in response.json()["error"]["details"]] == [field]
    stored = MessageFlow.objects.select_related("agent").get(pk=flow.pk)
    assert listed(stored) == listed(flow) and stored.version == 0
    assert Agent.objects.count() == 1


def test_patch_changes_any_subset(tenant, api):
    flow = make_flow(tenant.workspace)
    path = f"{URL}/{flow.id}"
    response = api.patch(path, {"name": "Renamed", "direction": "inbound", "messageChannel": "Email"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["direction"], body["messageChannel"], body["__v"]) == ("Renamed", "inbound", "Email", 1)
    assert body["prompt"] == "Be helpful." and body["initiationMessage"] == "Hello!"
    response = api.patch(path, {"agent": "agent_2", "isActive": False, "initiationMessage": "Hey"}, format="json")
    body = response.json()
    assert (body["agent"], body["isActive"], body["initiationMessage"], body["__v"]) == ("agent_2", False, "Hey", 2)
    assert sorted(Agent.objects.values_list("agent_id", flat=True)) == ["agent_1", "agent_2"]
    # The flow shows under its new agent's filter only.
    assert [f["_id"] for f in api.get(URL + "?agent=agent_2").json()] == [flow.id]
    assert api.get(URL + "?agent=agent_1").json() == []
    # Echoing GET one's body back is accepted and changes nothing.
    echoed = api.patch(path, {k: v for k, v in body.items() if k != "updatedAt"}, format="json")
    assert echoed.status_code == 200 and echoed.json() == body


def test_delete_answers_204_empty(tenant, api):
    flow = make_flow(tenant.workspace)
    response = api.delete(f"{URL}/{flow.id}/")
    assert response.status_code == 204 and response.content == b""
    assert not MessageFlow.objects.exists()
    assert api.get(f"{URL}/{flow.id}").status_code == 404
    assert api.delete(f"{URL}/{flow.id}").status_code == 404


def test_unsupported_methods_are_405_in_the_family_body(tenant, api):
    flow = make_flow(tenant.workspace)
    assert api.post(f"{URL}/{flow.id}", NEW_FLOW, format="json").json() == {
        "error": {"code": "method_not_allowed", "message": 'Method "POST" not allowed.'}
    }
    assert api.delete(URL).status_code == 405


# --- filters and paging ----------------------------------------------------------------------


@pytest.fixture
def varied(tenant):
    return [
        make_flow(tenant.workspace, 1, is_active=True, autopilot=False, message_channel="SMS", direction="inbound"),
        make_flow(tenant.workspace, 2, agent_id="agent_2", is_active=False, autopilot=True, message_channel="Email",
                  direction="outbound"),
        make_flow(tenant.workspace, 3, is_active=True, autopilot=True, message_channel="Email",
                  direction="bidirectional"),
    ]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("isActive=true", [1, 3]),
        ("isActive=false", [2]),
        ("autopilot=true", [2, 3]),
        ("autopilot=false", [1]),
        ("messageChannel=Email", [2, 3]),
        ("messageChannel=SMS", [1]),
        ("direction=outbound", [2]),
        ("direction=bidirectional", [3]),
        ("agent=agent_1", [1, 3]),
        ("agent=nobody", []),
        ("isActive=true&messageChannel=Email&autopilot=true", [3]),
        ("limit=2", [1, 2]),
        ("limit=2&offset=2", [3]),
        ("unrelated=1", [1, 2, 3]),
    ],
)
def test_filters(tenant, api, varied, query, expected):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 200
    assert [f["_id"] for f in response.json()] == [f"{tenant.workspace.pk}_flow{n}" for n in expected]


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("isActive=yes", "isActive", "Must be true or false; got yes."),
        ("autopilot=1", "autopilot", "Must be true or false; got 1."),
        ("messageChannel=sms", "messageChannel", '"sms" is not a valid choice. Allowed values: SMS, Email.'),
        ("direction=up", "direction",
         '"up" is not a valid choice. Allowed values: inbound, outbound, bidirectional.'),
        ("limit=0", "limit", "Ensure this value is greater than or equal to 1."),
        ("offset=-1", "offset", "Ensure this value is greater than or equal to 0."),
        ("limit=many", "limit", "A valid integer is required."),
    ],
)
def test_bad_filter_values_are_400(api, varied, query, field, message):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response.json() == field_error_body(field, message)


def test_list_query_count_is_the_same_for_1_and_50_flows(tenant, api, django_assert_num_queries):
    api.get(URL)  # sets the key's last_used_at, so the counted requests do not
    make_flow(tenant.workspace)
    # 1 key (with user, organization, workspace, its membership and the x-workspace-id workspace),
    # 2 the flows with their agents.
    with django_assert_num_queries(2):
        assert len(api.get(URL).json()) == 1
    for index in range(2, 51):
        make_flow(tenant.workspace, index, agent_id=f"agent_{index % 7}")
    with django_assert_num_queries(2):
        response = api.get(URL + "?isActive=true&agent=agent_3")
    assert len(response.json()) == 7
    with django_assert_num_queries(2):
        assert len(api.get(URL).json()) == 50


def test_list_reads_only_what_it_renders(tenant, api):
    make_flow(tenant.workspace, initiation_message="x" * 1000)
    api.get(URL)
    with CaptureQueriesContext(connection) as queries:
        api.get(URL)
    assert "initiation_message" not in queries.captured_queries[-1]["sql"]


def test_a_flow_workspace_deleted_takes_its_flows(tenant, sibling_workspace):
    make_flow(sibling_workspace)
    Workspace.objects.filter(pk=sibling_workspace.pk).delete()
    assert not MessageFlow.objects.exists() and not Agent.objects.exists()


def test_two_tenants_same_flow_name_and_agent(tenant):
    other = make_tenant("org_third", "carol")
    for t in (tenant, other):
        client = workspace_client(t.raw_key, t.workspace.pk)
        assert client.post(URL, NEW_FLOW, format="json").status_code == 201
    assert Agent.objects.count() == 2


def test_ids_and_headers_that_cannot_exist_are_4xx_not_500(tenant, api):
    # PostgreSQL refuses NUL in a compared or stored string: such input is refused, never a 500.
    for path in (f"{URL}/a%00b", URL + "?agent=a%00b"):
        assert api.get(path).status_code == 400
    assert api.get(f"{URL}/{'x' * 300}").json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert api.patch(f"{URL}/{'x' * 300}", {"name": "x"}, format="json").status_code == 404
    assert workspace_client(tenant.raw_key, "ws\x00x").get(URL).status_code == 403
    client = workspace_client(tenant.raw_key, tenant.workspace.pk)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.raw_key}", HTTP_CURRENT_ORG_ID="org\x00x",
                       HTTP_X_WORKSPACE_ID=tenant.workspace.pk)
    assert client.get(URL).status_code == 403
    for body in ({**NEW_FLOW, "prompt": "a\u0000b"}, {**NEW_FLOW, "settings": {"note": "a\u0000b"}}):
        response = api.post(URL, body, format="json")
        assert response.status_code == 400 and set(response.json()) == {"error"}
    assert not MessageFlow.objects.exists()
