import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ApiKey, Membership, Organization
from flowdesk.api.fields import parse_iso
from sessions_app.models import AudioClip, DialogueItem, UserSession
from tests.conftest import key_client

from .conftest import AT, make_session


def stored_body(client, session_id):
    response = client.get(f"/session/{session_id}")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def colleague(tenant):
    """Another user of the same organization, with a key of their own."""
    user = get_user_model().objects.create_user(username="bob")
    Membership.objects.create(user=user, organization=tenant.organization)
    _, raw = ApiKey.generate(user=user, organization=tenant.organization)
    return user, key_client(raw, "x-api-key")


# --- GET /session ------------------------------------------------------------------------------


def test_list_renders_every_documented_key(tenant):
    session = make_session(
        tenant.user, "sess00000001", dialogue=2, audios=2, name="Loops", language="en", easy_mode=True,
        workspace={"files": []}, tutorial_is_tutorial=True, tutorial_id=4, tutorial_progress=0.5,
        stats_total_connecting_time=12.5, stats_current_num_of_blocks=3, stats_total_invoked_llm=2,
        stats_total_user_messages=1, stats_total_code_executions=7, user_audio="UklG", screenshot=None,
        clicks=[{"x": 1, "y": 2.5, "value": 0, "timestamp": 1700000000000}],
    )
    response = tenant.client.get("/session")
    assert response.status_code == 200
    assert response.json() == [
        {
            "uuid": "uuid-sess00000001",
            "sessionId": "sess00000001",
            "name": "Loops",
            "dialogue": [
                {"id": 1, "contentType": "user", "isUser": True, "content": "message 1"},
                {"id": 2, "contentType": "ai", "isUser": False, "content": "message 2"},
            ],
            "quickReplies": [],
            "isReplying": False,
            "workspace": {"files": []},
            "isVMRunning": False,
            "clients": [],
            "language": "en",
            "easyMode": True,
            "responseMode": "text",
            "llmContext": None,
            "tutorial": {"isTutorial": True, "tutorialId": 4, "progress": 0.5},
            "stats": {
                "totalConnectingTime": 12.5,
                "currentNumOfBlocks": 3,
                "totalInvokedLLM": 2,
                "totalUserMessages": 1,
                "totalCodeExecutions": 7,
            },
            "audios": [{"id": "clip-0", "base64": "AAAA"}, {"id": "clip-1", "base64": "AAAA"}],
            "userAudio": "UklG",
            "screenshot": None,
            "clicks": [{"x": 1, "y": 2.5, "value": 0, "timestamp": 1700000000000}],
            "userInfo": str(tenant.user.pk),
            "createdAt": "2024-03-01T12:00:00Z",
            "updatedAt": "2024-03-01T12:00:00Z",
        }
    ]
    assert stored_body(tenant.client, session.session_id) == response.json()[0]


def test_list_keeps_null_apart_from_empty_lists(tenant):
    make_session(
        tenant.user, "nulls0000001", dialogue=0, audios=0, dialogue_null=True, audios_null=True,
        quick_replies=None, clients=None, clicks=None,
    )
    make_session(tenant.user, "empty0000001", dialogue=0, audios=0, updated_at=AT - timedelta(days=1))
    nulls, empties = tenant.client.get("/session").json()
    keys = ["dialogue", "quickReplies", "clients", "audios", "clicks"]
    assert {key: nulls[key] for key in keys} == dict.fromkeys(keys)
    assert {key: empties[key] for key in keys} == {key: [] for key in keys}


def test_list_is_most_recently_updated_first_and_pages(tenant):
    for n, hours in enumerate([3, 1, 2]):
        make_session(tenant.user, f"order000000{n}", updated_at=AT - timedelta(hours=hours))
    ids = [s["sessionId"] for s in tenant.client.get("/session/").json()]
    assert ids == ["order0000001", "order0000002", "order0000000"]
    page = tenant.client.get("/session?limit=1&offset=1").json()
    assert [s["sessionId"] for s in page] == ["order0000002"]


def test_list_filters(tenant):
    make_session(tenant.user, "english00001", language="en")
    make_session(tenant.user, "audiofr00001", language="fr", response_mode="audio")
    assert [s["sessionId"] for s in tenant.client.get("/session?language=fr").json()] == ["audiofr00001"]
    assert [s["sessionId"] for s in tenant.client.get("/session?responseMode=text").json()] == ["english00001"]
    response = tenant.client.get("/session?responseMode=video&limit=0")
    assert response.status_code == 400
    assert response.json()["error"]["fieldErrors"] == {"limit": "Ensure this value is greater than or equal to 1."}
    response = tenant.client.get("/session?responseMode=video")
    assert response.json()["error"]["fieldErrors"] == {
        "responseMode": "Select a valid choice. video is not one of the available choices."
    }


def test_list_query_count_does_not_grow_with_sessions(tenant, django_assert_num_queries):
    def fill(first, count):
        for n in range(first, first + count):
            make_session(tenant.user, f"many{n:08d}", dialogue=40, audios=3)

    tenant.client.get("/session")  # records last_used_at on the key, once a minute at most
    fill(0, 1)
    # key (with user, organization, workspace, own membership); sessions; dialogue items; audio clips
    with django_assert_num_queries(4):
        assert len(tenant.client.get("/session").json()) == 1
    fill(1, 49)
    with django_assert_num_queries(4):
        body = tenant.client.get("/session").json()
    assert len(body) == 50
    assert all(len(s["dialogue"]) == 40 and len(s["audios"]) == 3 for s in body)


# --- the per-user boundary ------------------------------------------------------------------------


def test_sessions_are_private_to_their_user(tenant, other_tenant, colleague):
    _, bob_client = colleague
    make_session(tenant.user, "alice0000001")
    make_session(colleague[0], "bob000000001")
    make_session(other_tenant.user, "mallory00001")
    assert [s["sessionId"] for s in tenant.client.get("/session").json()] == ["alice0000001"]
    assert [s["sessionId"] for s in bob_client.get("/session").json()] == ["bob000000001"]
    assert [s["sessionId"] for s in other_tenant.client.get("/session").json()] == ["mallory00001"]


# Every path that names a session: another user's session is a 404 there, exactly as an unknown one.
SESSION_PATHS = [
    ("get", "/session/{}", None),
    ("get", "/session/{}/", None),
    ("put", "/session/{}", {"name": "mine now", "dialogue": []}),
    ("delete", "/session/{}", None),
    ("delete", "/session/{}/", None),
    ("post", "/session/resume/{}", None),
    ("post", "/session/resume/{}/", None),
    ("post", "/session/{}/dialogue", {"contentType": "user", "content": "hi"}),
]


@pytest.mark.parametrize(("method", "path", "body"), SESSION_PATHS)
@pytest.mark.parametrize("who", ["colleague", "other tenant"])
def test_another_users_session_is_a_404_on_every_path(tenant, other_tenant, colleague, method, path, body, who):
    bob, bob_client = colleague
    theirs = make_session(bob, "bob000000001", updated_at=AT - timedelta(days=1))
    client = tenant.client if who == "colleague" else other_tenant.client
    before = stored_body(bob_client, "bob000000001")
    kwargs = {"data": body, "format": "json"} if body is not None else {}
    response = getattr(client, method)(path.format("bob000000001"), **kwargs)
    assert (response.status_code, response.json()) == (
        404, {"error": {"message": "No session with sessionId 'bob000000001'.", "type": "NOT_FOUND", "status": 404}}
    )
    unknown = getattr(client, method)(path.format("nosuchsess01"), **kwargs)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "NOT_FOUND"
    # Nothing changed: not the body, not the rows, not the time (resume would touch it).
    assert stored_body(bob_client, "bob000000001") == before
    assert DialogueItem.objects.filter(session=theirs).count() == 2
    assert UserSession.objects.get(pk=theirs.pk).updated_at == AT - timedelta(days=1)
    # The owner still reaches it on the same path.
    assert getattr(bob_client, method)(path.format("bob000000001"), **kwargs).status_code in (200, 201)


def test_a_users_sessions_follow_them_across_organizations(tenant):
    second = Organization.objects.create(pk="org_second000000001")
    Membership.objects.create(user=tenant.user, organization=second)
    make_session(tenant.user, "inorgone0001", organization=tenant.organization)
    make_session(tenant.user, "noorg0000001", updated_at=AT - timedelta(hours=1))
    for headers in ({}, {"HTTP_CURRENT_ORG_ID": second.pk}):
        ids = [s["sessionId"] for s in tenant.client.get("/session", **headers).json()]
        assert ids == ["inorgone0001", "noorg0000001"]


# --- POST /session/new ------------------------------------------------------------------------------


UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_new_session_starts_with_the_vendors_initial_values(tenant):
    response = tenant.client.post("/session/new?language=fr")
    assert response.status_code == 200
    assert list(response.json()) == ["sessionId"]
    session_id = response.json()["sessionId"]
    assert re.fullmatch(r"[A-Za-z0-9]{12}", session_id)
    stored = UserSession.objects.get(session_id=session_id)
    assert (stored.user, stored.organization) == (tenant.user, tenant.organization)
    body = stored_body(tenant.client, session_id)
    assert re.fullmatch(UUID7, body.pop("uuid"))  # the vendor's uuidv7
    assert body.pop("createdAt") == body.pop("updatedAt")
    assert body == {
        "sessionId": session_id,
        "name": None,
        "dialogue": [{"id": 0, "contentType": "log", "isUser": False, "content": "dialogue.Introduction"}],
        "quickReplies": ["quickReply.WhatINeed", "quickReply.HowToUse", "quickReply.BeginTutorial"],
        "isReplying": False,
        "workspace": {},
        "isVMRunning": False,
        "clients": [],
        "language": "fr",
        "easyMode": False,
        "responseMode": "text",
        "llmContext": "",
        "tutorial": {"isTutorial": False, "tutorialId": None, "progress": 10},
        "stats": {
            "totalConnectingTime": 0,
            "currentNumOfBlocks": 0,
            "totalInvokedLLM": 0,
            "totalUserMessages": 0,
            "totalCodeExecutions": 0,
        },
        "audios": [],
        "userAudio": "",
        "screenshot": "",
        "clicks": [],
        "userInfo": str(tenant.user.pk),
    }
    # The first item the client adds after the introduction is numbered 1.
    reply = tenant.client.post(f"/session/{session_id}/dialogue", {"contentType": "user", "content": "hi"}, format="json")
    assert reply.json()["id"] == 1


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("", "en"),
        ("?language=", "en"),
        ("?language=ja", "ja"),
        ("?language=pt-BR", "pt-BR"),
        ("?language=x%20y!", "x y!"),  # any string, as the vendor takes it
        ("?language=" + "l" * 300, "l" * 300),
        ("?language=%E6%97%A5%E6%9C%AC%E8%AA%9E", "日本語"),
    ],
)
def test_new_session_language_is_any_string_and_defaults_to_en(tenant, query, language):
    response = tenant.client.post("/session/new" + query)
    assert response.status_code == 200
    assert stored_body(tenant.client, response.json()["sessionId"])["language"] == language
    assert UserSession.objects.get().language == language


def test_uuids_of_new_sessions_are_time_ordered(tenant):
    first = tenant.client.post("/session/new").json()["sessionId"]
    second = tenant.client.post("/session/new").json()["sessionId"]
    uuids = [UserSession.objects.get(session_id=session_id).uuid for session_id in (first, second)]
    assert all(re.fullmatch(UUID7, value) for value in uuids)
    assert uuids[0][:8] <= uuids[1][:8]  # the leading 48 bits are the creation time in milliseconds


# --- PUT /session/{sessionId} -------------------------------------------------------------------------


def test_put_changes_only_the_given_fields(tenant):
    make_session(tenant.user, "put000000001", name="Before", language="en")
    before = stored_body(tenant.client, "put000000001")
    response = tenant.client.put(
        "/session/put000000001",
        {"name": "Après ✨", "tutorial": {"isTutorial": True, "tutorialId": None, "progress": 25}, "easyMode": False},
        format="json",
    )
    assert (response.status_code, response.json()) == (200, {"sessionId": "put000000001"})
    after = stored_body(tenant.client, "put000000001")
    assert after["updatedAt"] > before["updatedAt"]
    expected = {
        **before,
        "name": "Après ✨",
        "tutorial": {"isTutorial": True, "tutorialId": None, "progress": 25},
        "easyMode": False,
        "updatedAt": after["updatedAt"],
    }
    assert after == expected


def test_put_back_a_whole_get_body_with_nulls_empties_and_nested_content(tenant):
    make_session(tenant.user, "whole0000001")
    body = stored_body(tenant.client, "whole0000001")
    body.update(
        dialogue=[
            {"id": 10, "contentType": "group_log", "isUser": False, "ui": "open", "content": [
                {"id": 1, "contentType": "log", "isUser": False, "content": "compilation…"},
                {"id": 2, "contentType": "group_log", "isUser": False, "content": []},
            ]},
            {"id": 11, "contentType": "user_audio", "isUser": True, "content": "こんにちは", "ui": "mic"},
        ],
        quickReplies=None, clients=["c1"], audios=None, clicks=[], workspace={},
        userInfo={"id": "u1", "username": "zoé", "image": None, "email": ""}, responseMode="audio",
        stats={"totalConnectingTime": 1.5, "currentNumOfBlocks": 0, "totalInvokedLLM": 9,
               "totalUserMessages": 1, "totalCodeExecutions": 0},
    )
    response = tenant.client.put("/session/whole0000001/", body, format="json")
    assert response.status_code == 200
    assert stored_body(tenant.client, "whole0000001") == body  # its timestamps too: stored as given
    assert list(AudioClip.objects.filter(session__session_id="whole0000001")) == []
    assert UserSession.objects.get(session_id="whole0000001").audios_null


# (body, fieldErrors: each top-level key with its first message, full paths in `message`)
INVALID_BODIES = [
    ({"name": 5}, {"name": "Not a valid string."}),
    ({"isReplying": "yes"}, {"isReplying": "Must be true or false."}),
    ({"responseMode": "video"}, {"responseMode": '"video" is not a valid choice.'}),
    ({"dialogue": [{"id": 1, "contentType": "shout", "isUser": True, "content": "hi"}]},
     {"dialogue": '"shout" is not a valid choice.'}),
    ({"dialogue": [{"id": 1, "contentType": "user", "isUser": True}]}, {"dialogue": "This field is required."}),
    ({"dialogue": [{"id": 1, "contentType": "group_log", "isUser": False, "content": [
        {"id": 1, "contentType": "log", "isUser": "no", "content": 3}]}]},
     {"dialogue": "Must be true or false."}),
    ({"dialogue": [{"id": 1, "contentType": "ai", "isUser": False, "content": "a", "ui": {"open": True}}]},
     {"dialogue": "Not a valid string."}),
    ({"dialogue": [{"id": 1, "contentType": "ai", "isUser": False, "content": [
        {"id": 2, "contentType": "log", "isUser": False, "content": "", "ui": ["button"]}]}]},
     {"dialogue": "Not a valid string."}),
    ({"dialogue": "hello"}, {"dialogue": "Expected a list of objects."}),
    ({"quickReplies": {"a": 1}}, {"quickReplies": 'Expected a list of items but got type "dict".'}),
    ({"quickReplies": ["Yes", {"label": "No"}]}, {"quickReplies": "Not a valid string."}),
    ({"clients": [7]}, {"clients": "Not a valid string."}),
    ({"workspace": []}, {"workspace": "Must be a JSON object or null."}),
    ({"stats": {"totalConnectingTime": 1, "currentNumOfBlocks": "3", "totalInvokedLLM": -1,
                "totalUserMessages": 0, "totalCodeExecutions": 0}},
     {"stats": "A valid integer is required."}),
    ({"tutorial": {"isTutorial": True, "progress": 1}}, {"tutorial": "This field is required."}),
    ({"clicks": [{"x": 1, "y": 2, "value": 3}]}, {"clicks": "This field is required."}),
    ({"audios": [{"id": "a", "base64": None}]}, {"audios": "This field may not be null."}),
    ({"userInfo": {"id": "u1", "username": "z"}}, {"userInfo": "This field is required."}),
    ({"userInfo": {"id": "u1", "username": "z", "image": None, "email": None}},
     {"userInfo": "This field may not be null."}),
    ({"userInfo": 7}, {"userInfo": "Must be a user id string or an object with id, username, image and email."}),
    ({"createdAt": "yesterday"}, {"createdAt": "Datetime has wrong format. Use one of these formats instead: ISO 8601."}),
    ({"sessionId": "another00001"}, {"sessionId": "Cannot be changed."}),
    ({"responseMode": "video", "easyMode": "no", "colour": "red"},
     {"easyMode": "Must be true or false.", "responseMode": '"video" is not a valid choice.'}),
]


@pytest.mark.parametrize(("body", "field_errors"), INVALID_BODIES)
def test_put_refuses_bad_input_and_writes_nothing(tenant, body, field_errors):
    make_session(tenant.user, "bad000000001")
    before = stored_body(tenant.client, "bad000000001")
    # A valid change beside the bad one: all or nothing.
    response = tenant.client.put("/session/bad000000001", {"name": "changed", **body}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["status"]) == ("VALIDATION_ERROR", 400)
    assert "formErrors" not in error  # no error about the body as a whole
    assert error["fieldErrors"] == field_errors
    assert stored_body(tenant.client, "bad000000001") == before


def test_put_validation_error_body_is_exact(tenant):
    make_session(tenant.user, "exact0000001")
    response = tenant.client.put("/session/exact0000001", [{"name": "x"}], format="json")
    assert response.json() == {
        "error": {
            "message": "Invalid input: body: Invalid data. Expected a dictionary, but got list.",
            "type": "VALIDATION_ERROR",
            "status": 400,
            "formErrors": "Invalid data. Expected a dictionary, but got list.",
            "fieldErrors": {},
        }
    }
    response = tenant.client.put(
        "/session/exact0000001",
        {"stats": {"totalConnectingTime": "x", "currentNumOfBlocks": -1, "totalInvokedLLM": 0, "totalUserMessages": 0,
                   "totalCodeExecutions": 0},
         "dialogue": [{"id": 1, "contentType": "ai", "isUser": False, "content": "a", "ui": 3}]},
        format="json",
    )
    assert response.json() == {
        "error": {
            "message": "Invalid input: dialogue.0.ui: Not a valid string.; stats.totalConnectingTime: A number is"
                       " required.; stats.currentNumOfBlocks: Ensure this value is greater than or equal to 0.",
            "type": "VALIDATION_ERROR",
            "status": 400,
            "fieldErrors": {"dialogue": "Not a valid string.", "stats": "A number is required."},
        }
    }


def test_put_drops_keys_no_session_has_at_any_depth(tenant):
    make_session(tenant.user, "drop00000001", dialogue=0, name="Before")
    before = stored_body(tenant.client, "drop00000001")
    body = {
        "name": "After",
        "colour": "red",
        "userInfo": {"id": "u1", "username": "zoé", "image": None, "email": "z@example.com", "role": "student"},
        "tutorial": {"isTutorial": True, "tutorialId": 3, "progress": 50, "title": "Loops"},
        "dialogue": [
            {"id": 1, "contentType": "group_log", "isUser": False, "seen": True, "content": [
                {"id": 1, "contentType": "log", "isUser": False, "content": "ok", "time": 3},
            ]},
        ],
        "clicks": [{"x": 1, "y": 2, "value": 3, "timestamp": 4, "button": "left"}],
    }
    response = tenant.client.put("/session/drop00000001", body, format="json")
    assert (response.status_code, response.json()) == (200, {"sessionId": "drop00000001"})
    after = stored_body(tenant.client, "drop00000001")
    assert after == {
        **before,
        "name": "After",
        "userInfo": {"id": "u1", "username": "zoé", "image": None, "email": "z@example.com"},
        "tutorial": {"isTutorial": True, "tutorialId": 3, "progress": 50},
        "dialogue": [
            {"id": 1, "contentType": "group_log", "isUser": False, "content": [
                {"id": 1, "contentType": "log", "isUser": False, "content": "ok"},
            ]},
        ],
        "clicks": [{"x": 1, "y": 2, "value": 3, "timestamp": 4}],
        "updatedAt": after["updatedAt"],
    }
    # Only unknown keys: nothing to change but the time of the change.
    response = tenant.client.put("/session/drop00000001", {"colour": "blue", "theme": {"dark": True}}, format="json")
    assert response.status_code == 200
    again = stored_body(tenant.client, "drop00000001")
    assert again == {**after, "updatedAt": again["updatedAt"]}


@pytest.mark.parametrize(
    ("given", "created", "updated"),
    [
        ({"createdAt": "2020-01-02T03:04:05Z", "updatedAt": "2021-06-07T08:09:10.5Z"},
         "2020-01-02T03:04:05Z", "2021-06-07T08:09:10.5Z"),
        ({"updatedAt": "2019-12-31T23:59:59+02:00"}, "2024-03-01T12:00:00Z", "2019-12-31T21:59:59Z"),
        ({"createdAt": "2020-01-02T03:04:05.123Z"}, "2020-01-02T03:04:05.123Z", None),
        # A year before 1000 answers with four digits, as RFC 3339 wants (the fuzzer found "799-...").
        ({"createdAt": "0799-03-15T04:50:09Z", "updatedAt": "0001-01-02T00:00:00.25Z"},
         "0799-03-15T04:50:09Z", "0001-01-02T00:00:00.25Z"),
        ({}, "2024-03-01T12:00:00Z", None),
    ],
)
def test_put_stores_given_timestamps_and_otherwise_updates_updated_at(tenant, given, created, updated):
    make_session(tenant.user, "time00000001")
    started = timezone.now()
    response = tenant.client.put("/session/time00000001", {"name": "x", **given}, format="json")
    assert response.status_code == 200
    body = stored_body(tenant.client, "time00000001")
    assert body["createdAt"] == created
    if updated is None:  # not given: the time of the change
        assert parse_iso(body["updatedAt"]) >= started
    else:
        assert body["updatedAt"] == updated
    # The list orders by the stored updatedAt.
    assert tenant.client.get("/session").json()[0]["updatedAt"] == body["updatedAt"]


# --- DELETE and resume ------------------------------------------------------------------------------------


def test_delete_removes_the_session_and_its_rows(tenant):
    session = make_session(tenant.user, "gone00000001", dialogue=3, audios=2)
    make_session(tenant.user, "kept00000001")
    response = tenant.client.delete("/session/gone00000001/")
    assert (response.status_code, response.json()) == (200, {"sessionId": "gone00000001"})
    assert tenant.client.get("/session/gone00000001").status_code == 404
    assert not DialogueItem.objects.filter(session_id=session.pk).exists()
    assert not AudioClip.objects.filter(session_id=session.pk).exists()
    assert list(UserSession.objects.values_list("session_id", flat=True)) == ["kept00000001"]


def test_resume_makes_the_session_the_most_recent(tenant):
    make_session(tenant.user, "older0000001", updated_at=AT - timedelta(days=2))
    make_session(tenant.user, "newer0000001")
    response = tenant.client.post("/session/resume/older0000001")
    assert (response.status_code, response.json()) == (200, {"sessionId": "older0000001"})
    assert [s["sessionId"] for s in tenant.client.get("/session").json()] == ["older0000001", "newer0000001"]
    response = tenant.client.post("/session/resume/unknown00001/")
    assert response.status_code == 404


def test_the_list_reads_stored_json_as_get_one_does_long_integers_included(tenant):
    """The list parses JSON columns with orjson, which reads an integer past 64 bits as a float;
    such numbers (stored by an import or the admin) must come back as GET one gives them."""
    make_session(tenant.user, "long00000001", dialogue=1, workspace={"big": 2**70, "u64": 2**64 - 1},
                           clicks=[{"x": -(10**25), "y": 0.5, "value": 2**65, "timestamp": 1}])
    one = stored_body(tenant.client, "long00000001")
    listed = tenant.client.get("/session").json()
    assert listed == [one]
    assert one["workspace"] == {"big": 2**70, "u64": 2**64 - 1}
    assert one["clicks"] == [{"x": -(10**25), "y": 0.5, "value": 2**65, "timestamp": 1}]
    assert type(listed[0]["workspace"]["big"]) is int
