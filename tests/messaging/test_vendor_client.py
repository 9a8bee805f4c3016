"""What a client written against Trillet's full message-flow pages relies on (CONTRACT.md, "Beyond the pages").

PUT .../toggle-autopilot, the vendor's default settings on create, flat responseSettings stored
nested, and PUT changing only the settings it names.
"""

import copy
import http.client
import json
from urllib.parse import urlsplit

import pytest

from messaging.models import MessageFlow
from tests.conftest import make_tenant
from tests.messaging.conftest import NEW_FLOW, URL, make_flow, workspace_client

# Written out rather than imported, so that a change to the defaults in the code shows here.
DEFAULTS = {
    "responseSettings": {
        "delay": 0,
        "workingHours": {"enabled": False, "start": "09:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": ""},
    },
    "security": {"hipaaCompliance": False},
}


def with_defaults(**sections):
    settings = copy.deepcopy(DEFAULTS)
    settings.update(sections)
    return settings


def stored(flow_id):
    return MessageFlow.objects.select_related("agent").get(pk=flow_id)


def create(api, **body):
    response = api.post(URL, {**NEW_FLOW, **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- PUT /v1/api/message-flows/{id}/toggle-autopilot ------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="no-body"),
        pytest.param((b"", "application/json"), id="empty-json-body"),
        pytest.param((b"{}", "application/json"), id="empty-object"),
        pytest.param((b"{}", ""), id="empty-object-no-content-type"),
        # The vendor page's own curl example sends this.
        pytest.param((b'{"": "<string>"}', "application/json"), id="vendor-example"),
    ],
)
def test_toggle_autopilot_flips_and_answers_the_flow_as_get_one(tenant, api, slash, body):
    flow = make_flow(tenant.workspace, autopilot=False, version=2)
    path = f"{URL}/{flow.id}/toggle-autopilot{slash}"

    def toggle():
        if body is None:
            return api.generic("PUT", path)
        return api.generic("PUT", path, body[0], content_type=body[1])

    response = toggle()
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer == api.get(f"{URL}/{flow.id}").json()
    assert (answer["autopilot"], answer["__v"], answer["initiationMessage"]) == (True, 3, "Hello!")
    assert answer["updatedAt"] != "2025-01-02T10:16:30Z" and answer["createdAt"] == "2025-01-02T10:16:00Z"
    row = stored(flow.id)
    assert (row.autopilot, row.version) == (True, 3)
    # Only autopilot (and the record's version and time) changed.
    assert (row.name, row.description, row.settings, row.is_active) == (flow.name, flow.description, {}, True)

    again = toggle()
    assert (again.json()["autopilot"], again.json()["__v"]) == (False, 4)
    assert stored(flow.id).autopilot is False


def test_toggle_autopilot_over_http_without_a_body(live_server, tenant):
    # As `curl -X PUT .../toggle-autopilot` sends it: no body, no Content-Type.
    flow = make_flow(tenant.workspace, autopilot=True)
    url = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("PUT", f"{URL}/{flow.id}/toggle-autopilot", headers={
            "x-api-key": tenant.raw_key, "x-workspace-id": tenant.workspace.pk,
        })
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 200, body
    assert (body["autopilot"], body["__v"]) == (False, 1)
    assert stored(flow.id).autopilot is False


def test_toggle_autopilot_of_another_tenants_flow_is_404(tenant, other_tenant, api, sibling_workspace):
    sibling_flow = make_flow(sibling_workspace)
    other_flow = make_flow(other_tenant.workspace)
    for flow_id in (sibling_flow.id, other_flow.id, "000000000000000000000000", "x" * 300):
        for slash in ("", "/"):
            response = api.put(f"{URL}/{flow_id}/toggle-autopilot{slash}", {}, format="json")
            assert response.status_code == 404
            assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    # And the other way round: the sibling workspace cannot toggle this workspace's flow.
    mine = make_flow(tenant.workspace, 2)
    sibling = workspace_client(tenant.raw_key, sibling_workspace.pk)
    assert sibling.put(f"{URL}/{mine.id}/toggle-autopilot").status_code == 404
    for flow in (sibling_flow, other_flow, mine):
        row = stored(flow.id)
        assert (row.autopilot, row.version, row.updated_at) == (False, 0, flow.updated_at)


def test_toggle_autopilot_asks_for_a_key_and_a_workspace(tenant, other_tenant, anon):
    flow = make_flow(tenant.workspace)
    path = f"{URL}/{flow.id}/toggle-autopilot"
    anon.credentials(HTTP_X_WORKSPACE_ID=tenant.workspace.pk)
    assert anon.put(path).status_code == 401
    response = workspace_client(tenant.raw_key).put(path)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The x-workspace-id header is required."
    response = workspace_client(other_tenant.raw_key, tenant.workspace.pk).put(path)
    assert response.status_code == 403
    assert stored(flow.id).autopilot is False


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"{not json", "application/json", 400, "bad_request"),
        (b"[1, 2]", "application/json", 400, "validation_error"),
        (b'"on"', "application/json", 400, "validation_error"),
        (b"toggle=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_toggle_autopilot_refuses_a_body_that_is_not_an_object(tenant, api, body, content_type, status, code):
    flow = make_flow(tenant.workspace)
    response = api.generic("PUT", f"{URL}/{flow.id}/toggle-autopilot", body, content_type=content_type)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code
    row = stored(flow.id)
    assert (row.autopilot, row.version) == (False, 0)


def test_toggle_autopilot_is_put_only(tenant, api):
    flow = make_flow(tenant.workspace)
    path = f"{URL}/{flow.id}/toggle-autopilot"
    for method in ("get", "post", "patch", "delete"):
        response = getattr(api, method)(path)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert stored(flow.id).autopilot is False


def test_toggle_autopilot_runs_a_fixed_number_of_queries(tenant, api, django_assert_num_queries):
    flow = make_flow(tenant.workspace)
    api.get(URL)  # sets the key's last_used_at, so the counted request does not
    # The key and tenant rows; the flow locked, with its agent; the update; and the savepoint and its
    # release that the test's own transaction makes of transaction.atomic().
    with django_assert_num_queries(5):
        assert api.put(f"{URL}/{flow.id}/toggle-autopilot").json()["autopilot"] is True


# --- default settings on create ---------------------------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"settings": {}}], ids=["no-settings", "empty-settings"])
def test_a_flow_created_without_settings_gets_the_vendors_defaults(tenant, api, extra):
    body = create(api, **extra)
    assert body["settings"] == DEFAULTS
    assert stored(body["_id"]).settings == DEFAULTS
    assert api.get(URL).json()[0]["settings"] == DEFAULTS
    assert api.get(f"{URL}/{body['_id']}").json()["settings"] == DEFAULTS


@pytest.mark.parametrize(
    "given, expected",
    [
        # A section left out gets its defaults; one given keeps its keys and gets the missing ones.
        ({"security": {}}, with_defaults()),
        ({"security": {"hipaaCompliance": True}}, with_defaults(security={"hipaaCompliance": True})),
        ({"responseSettings": {"delay": 30}},
         with_defaults(responseSettings={"delay": 30, "workingHours": DEFAULTS["responseSettings"]["workingHours"]})),
        ({"responseSettings": {"workingHours": {"enabled": True, "end": "22:00"}}},
         with_defaults(responseSettings={"delay": 0, "workingHours": {
             "enabled": True, "start": "09:00", "end": "22:00", "timezone": "UTC", "outOfHoursMessage": "",
         }})),
        # emailSettings has no documented default: kept when given, never added.
        ({"emailSettings": {"subjectLine": "Hello", "signature": "Regards"}},
         with_defaults(emailSettings={"subjectLine": "Hello", "signature": "Regards"})),
        # Keys beyond the documented ones are kept.
        ({"security": {"blockedKeywords": ["pin"]}, "custom": {"a": 1}},
         with_defaults(security={"hipaaCompliance": False, "blockedKeywords": ["pin"]}, custom={"a": 1})),
        # null is a value: kept as given.
        ({"security": None}, with_defaults(security=None)),
    ],
)
def test_create_fills_in_the_defaults_around_what_is_given(tenant, api, given, expected):
    body = create(api, settings=given)
    assert body["settings"] == expected
    assert stored(body["_id"]).settings == expected


def test_create_takes_flat_response_settings_and_stores_them_nested(tenant, api):
    # The request body of the vendor's create page, with its flat responseSettings: the working
    # hours' keys beside the delay, stored under workingHours; the other groups as given.
    hours = {"enabled": True, "start": "08:00", "end": "18:00", "timezone": "America/New_York",
             "outOfHoursMessage": "We are closed."}
    others = {
        "security": {"hipaaCompliance": True},
        "emailSettings": {"subjectLine": "Thank You for Joining Our Event", "signature": "Best Regards"},
    }
    settings = {"responseSettings": {"delay": 15, **hours}, **others}
    body = create(api, settings=settings, description="Example", isActive=True, autopilot=True)
    expected = {"responseSettings": {"delay": 15, "workingHours": hours}, **others}
    assert body["settings"] == expected
    assert stored(body["_id"]).settings == expected
    assert api.get(f"{URL}/{body['_id']}").json()["settings"] == expected


def test_flat_response_settings_in_part_are_nested_and_filled_in(tenant, api):
    body = create(api, settings={"responseSettings": {"enabled": True, "timezone": "Europe/Paris", "tone": "warm"}})
    assert body["settings"]["responseSettings"] == {
        "delay": 0,
        "workingHours": {"enabled": True, "start": "09:00", "end": "17:00", "timezone": "Europe/Paris",
                         "outOfHoursMessage": ""},
        "tone": "warm",
    }


@pytest.mark.parametrize(
    "settings, field, message",
    [
        ({"responseSettings": {"delay": "5"}}, "settings.responseSettings.delay", "Must be a number of seconds, 0 or more."),
        ({"responseSettings": {"delay": -1}}, "settings.responseSettings.delay", "Must be a number of seconds, 0 or more."),
        ({"responseSettings": {"delay": True}}, "settings.responseSettings.delay", "Must be a number of seconds, 0 or more."),
        ({"responseSettings": {"delay": None}}, "settings.responseSettings.delay", "Must be a number of seconds, 0 or more."),
        ({"responseSettings": {"workingHours": "always"}}, "settings.responseSettings.workingHours", "Must be a JSON object."),
        ({"responseSettings": {"workingHours": {"enabled": "yes"}}}, "settings.responseSettings.workingHours.enabled",
         "Must be true or false."),
        ({"responseSettings": {"workingHours": {"start": 900}}}, "settings.responseSettings.workingHours.start",
         "Must be a string."),
        # Flat keys are named where the client put them.
        ({"responseSettings": {"enabled": 1}}, "settings.responseSettings.enabled", "Must be true or false."),
        ({"responseSettings": {"outOfHoursMessage": None}}, "settings.responseSettings.outOfHoursMessage",
         "Must be a string."),
        ({"responseSettings": {"enabled": True, "workingHours": {"enabled": False}}},
         "settings.responseSettings.enabled", "Give it flat or under workingHours, not both."),
        ({"security": {"hipaaCompliance": "no"}}, "settings.security.hipaaCompliance", "Must be true or false."),
        ({"emailSettings": {"subjectLine": ["Hi"]}}, "settings.emailSettings.subjectLine", "Must be a string."),
        ({"emailSettings": "none"}, "settings.emailSettings", "Must be a JSON object."),
    ],
)
def test_bad_settings_values_are_400_and_create_nothing(api, settings, field, message):
    response = api.post(URL, {**NEW_FLOW, "settings": settings}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": field, "message": message}]
    assert not MessageFlow.objects.exists()


# --- PUT (and PATCH) with partial settings ------------------------------------------------------


@pytest.fixture
def full_flow(tenant, api):
    """A flow created through the API with every documented section."""
    body = create(api, settings={
        "responseSettings": {"delay": 5, "workingHours": {"enabled": False, "start": "08:00"}, "tone": "warm"},
        "security": {"hipaaCompliance": True},
        "emailSettings": {"subjectLine": "Hello", "signature": "Regards"},
        "custom": [1],
    })
    return body


FULL = {
    "responseSettings": {
        "delay": 5,
        "workingHours": {"enabled": False, "start": "08:00", "end": "17:00", "timezone": "UTC", "outOfHoursMessage": ""},
        "tone": "warm",
    },
    "security": {"hipaaCompliance": True},
    "emailSettings": {"subjectLine": "Hello", "signature": "Regards"},
    "custom": [1],
}


def changed(**paths):
    """FULL with the given dotted paths set."""
    settings = copy.deepcopy(FULL)
    for path, value in paths.items():
        *parents, last = path.split("__")
        node = settings
        for parent in parents:
            node = node[parent]
        node[last] = value
    return settings


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    "given, expected",
    [
        ({"responseSettings": {"workingHours": {"enabled": True}}}, changed(responseSettings__workingHours__enabled=True)),
        ({"security": {"hipaaCompliance": False}}, changed(security__hipaaCompliance=False)),
        ({"responseSettings": {"delay": 0.5}}, changed(responseSettings__delay=0.5)),
        ({"emailSettings": {"signature": "Cheers"}}, changed(emailSettings__signature="Cheers")),
        ({"emailSettings": None}, changed(emailSettings=None)),
        ({"custom": [2, 3], "added": True}, {**changed(custom=[2, 3]), "added": True}),
        # Flat keys are nested here too, and merge like the nested form.
        ({"responseSettings": {"enabled": True, "end": "20:00"}},
         changed(responseSettings__workingHours__enabled=True, responseSettings__workingHours__end="20:00")),
    ],
)
def test_put_changes_only_the_settings_it_names(tenant, api, full_flow, method, given, expected):
    assert full_flow["settings"] == FULL
    path = f"{URL}/{full_flow['_id']}"
    response = getattr(api, method)(path, {"settings": given}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["settings"] == expected and response.json()["__v"] == 1
    row = stored(full_flow["_id"])
    assert row.settings == expected and row.description is None and row.version == 1
    assert api.get(path).json() == response.json()


def test_put_description_and_toggle_leave_the_settings_alone(tenant, api, full_flow):
    path = f"{URL}/{full_flow['_id']}"
    response = api.put(path, {"description": "Night shift", "toggleAutopilot": True}, format="json")
    assert response.json()["settings"] == FULL and response.json()["autopilot"] is True
    assert stored(full_flow["_id"]).settings == FULL


@pytest.mark.parametrize("given", [{}, {"security": {"hipaaCompliance": True}}, {"responseSettings": {"delay": 5}}])
def test_settings_that_change_nothing_are_not_a_new_version(tenant, api, full_flow, given):
    path = f"{URL}/{full_flow['_id']}"
    response = api.put(path, {"settings": given}, format="json")
    assert response.status_code == 200
    assert response.json() == {**full_flow, "updatedAt": full_flow["updatedAt"]}
    assert stored(full_flow["_id"]).version == 0


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    "given, field",
    [
        ({"responseSettings": {"workingHours": {"enabled": "on"}}}, "settings.responseSettings.workingHours.enabled"),
        ({"responseSettings": {"workingHours": []}}, "settings.responseSettings.workingHours"),
        ({"responseSettings": {"delay": "soon"}}, "settings.responseSettings.delay"),
        ({"responseSettings": {"timezone": 1}}, "settings.responseSettings.timezone"),
        ({"responseSettings": {"start": "07:00", "workingHours": {"start": "06:00"}}}, "settings.responseSettings.start"),
        ({"security": {"hipaaCompliance": None}}, "settings.security.hipaaCompliance"),
        ({"security": "strict"}, "settings.security"),
    ],
)
def test_a_bad_settings_value_on_update_writes_nothing(tenant, api, full_flow, method, given, field):
    path = f"{URL}/{full_flow['_id']}"
    body = {"settings": given} if method == "patch" else {"description": "changed", "toggleAutopilot": True,
                                                          "settings": given}
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 400
    assert [item["field"] for item in response.json()["error"]["details"]] == [field]
    row = stored(full_flow["_id"])
    assert (row.settings, row.description, row.autopilot, row.version) == (FULL, None, False, 0)


def test_settings_are_checked_whole_once_merged(tenant, api):
    # A stored value the rules refuse (a row written before them) is refused on the next change
    # to the settings, though the change does not touch it; other changes still go through.
    flow = make_flow(tenant.workspace, settings={"security": {"hipaaCompliance": "yes"}})
    path = f"{URL}/{flow.id}"
    response = api.put(path, {"settings": {"responseSettings": {"delay": 1}}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "settings.security.hipaaCompliance", "message": "Must be true or false."}
    ]
    assert stored(flow.id).settings == {"security": {"hipaaCompliance": "yes"}}
    response = api.put(path, {"settings": {"security": {"hipaaCompliance": True}, "responseSettings": {"delay": 1}}},
                       format="json")
    assert response.status_code == 200
    assert stored(flow.id).settings == {"security": {"hipaaCompliance": True}, "responseSettings": {"delay": 1}}
    assert api.put(path, {"description": "fine"}, format="json").status_code == 200


def test_an_imported_flow_without_defaults_is_not_filled_in_by_an_update(tenant, api):
    # Updates lay the change over what the flow has: the defaults belong to creation only.
    flow = make_flow(tenant.workspace, settings={})
    response = api.put(f"{URL}/{flow.id}", {"settings": {"security": {"hipaaCompliance": True}}}, format="json")
    assert response.json()["settings"] == {"security": {"hipaaCompliance": True}}


def test_two_workspaces_updating_settings_do_not_see_each_other(tenant, api, sibling_workspace):
    theirs = make_flow(sibling_workspace, settings={"security": {"hipaaCompliance": False}})
    response = api.put(f"{URL}/{theirs.id}", {"settings": {"security": {"hipaaCompliance": True}}}, format="json")
    assert response.status_code == 404
    assert stored(theirs.id).settings == {"security": {"hipaaCompliance": False}}
    other = make_tenant("org_third", "carol")
    client = workspace_client(other.raw_key, other.workspace.pk)
    assert client.patch(f"{URL}/{theirs.id}", {"settings": {}}, format="json").status_code == 404
