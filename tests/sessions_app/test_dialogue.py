"""POST /session/{sessionId}/dialogue: one item appended, numbered and counted by the server."""


import pytest

from sessions_app.models import DialogueItem, UserSession
from tests.conftest import at_once, key_client

from .conftest import make_session


def body(client, session_id):
    return client.get(f"/session/{session_id}").json()


def test_append_numbers_the_item_and_counts_user_messages(tenant):
    make_session(tenant.user, "talk00000001", dialogue=2, stats_total_user_messages=1)
    before = body(tenant.client, "talk00000001")

    response = tenant.client.post(
        "/session/talk00000001/dialogue", {"contentType": "user", "content": "Et maintenant ? 🤔"}, format="json"
    )
    assert (response.status_code, response.json()) == (
        201,
        {"id": 3, "contentType": "user", "isUser": True, "content": "Et maintenant ? 🤔"},
    )
    response = tenant.client.post(
        "/session/talk00000001/dialogue/",
        {"contentType": "group_log", "isUser": False, "ui": "open", "content": [
            {"id": 1, "contentType": "log", "isUser": False, "content": "ok", "ui": None},
        ]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["id"] == 4

    after = body(tenant.client, "talk00000001")
    assert after["dialogue"] == before["dialogue"] + [
        {"id": 3, "contentType": "user", "isUser": True, "content": "Et maintenant ? 🤔"},
        {"id": 4, "contentType": "group_log", "isUser": False, "ui": "open", "content": [
            {"id": 1, "contentType": "log", "isUser": False, "content": "ok"},  # a null ui is no ui
        ]},
    ]
    stored = DialogueItem.objects.get(session__session_id="talk00000001", item_id=4)
    assert (stored.ui, stored.content) == ("open", [{"id": 1, "contentType": "log", "isUser": False, "content": "ok"}])
    assert DialogueItem.objects.get(session__session_id="talk00000001", item_id=3).ui is None
    assert after["stats"] == {**before["stats"], "totalUserMessages": 2}  # the ai item is not counted
    assert after["updatedAt"] > before["updatedAt"]
    assert {k: v for k, v in after.items() if k not in ("dialogue", "stats", "updatedAt")} == {
        k: v for k, v in before.items() if k not in ("dialogue", "stats", "updatedAt")
    }


def test_append_follows_the_highest_id_and_turns_a_null_dialogue_into_a_list(tenant):
    make_session(tenant.user, "null00000001", dialogue=0, dialogue_null=True)
    assert body(tenant.client, "null00000001")["dialogue"] is None
    item = {"contentType": "user_audio", "content": "🎤"}
    assert tenant.client.post("/session/null00000001/dialogue", item, format="json").json()["id"] == 1
    assert body(tenant.client, "null00000001")["dialogue"] == [{"id": 1, "isUser": True, **item}]

    session = make_session(tenant.user, "gaps00000001", dialogue=0)
    DialogueItem.objects.create(session=session, position=0, item_id=41, content_type="ai", is_user=False, content="")
    reply = tenant.client.post("/session/gaps00000001/dialogue", {"contentType": "ai", "content": "x"}, format="json")
    assert reply.json()["id"] == 42


def test_append_after_repeated_and_unordered_ids_keeps_them(tenant):
    make_session(tenant.user, "mixd00000001", dialogue=0)
    given = [
        {"id": 7, "contentType": "ai", "isUser": False, "content": "a"},
        {"id": 2, "contentType": "user", "isUser": True, "content": "b"},
        {"id": 7, "contentType": "ai", "isUser": False, "content": "c"},
    ]
    assert tenant.client.put("/session/mixd00000001", {"dialogue": given}, format="json").status_code == 200
    item = {"contentType": "user", "content": "d", "ui": None}
    reply = tenant.client.post("/session/mixd00000001/dialogue", item, format="json")
    assert (reply.status_code, reply.json()) == (201, {"id": 8, "contentType": "user", "isUser": True, "content": "d"})
    assert body(tenant.client, "mixd00000001")["dialogue"] == [*given, reply.json()]
    assert DialogueItem.objects.get(item_id=8).ui is None


def test_an_explicit_is_user_wins_over_the_content_type(tenant):
    make_session(tenant.user, "flag00000001", dialogue=0)
    item = {"contentType": "request", "isUser": True, "content": "run my code"}
    assert tenant.client.post("/session/flag00000001/dialogue", item, format="json").json()["isUser"] is True
    assert body(tenant.client, "flag00000001")["stats"]["totalUserMessages"] == 1


@pytest.mark.parametrize(
    ("item", "field_errors"),
    [
        ({"contentType": "user"}, {"content": "This field is required."}),
        ({"contentType": "whisper", "content": "x"}, {"contentType": '"whisper" is not a valid choice.'}),
        ({"contentType": "user", "content": None}, {"content": "This field may not be null."}),
        ({"contentType": "user", "content": "x", "isUser": 1}, {"isUser": "Must be true or false."}),
        ({"id": 99, "contentType": "user", "content": "x"}, {"id": "Assigned by the server; leave it out."}),
        ({"contentType": "ai", "content": [{"id": 1, "contentType": "log", "isUser": False}]},
         {"content": "This field is required."}),
        ({"contentType": "ai", "content": "x", "ui": {"open": True}}, {"ui": "Not a valid string."}),
        ({"contentType": "ai", "content": "x", "extra": 1}, {"extra": "Unknown field."}),
    ],
)
def test_a_bad_item_is_refused_and_nothing_changes(tenant, item, field_errors):
    make_session(tenant.user, "keep00000001", dialogue=1)
    before = body(tenant.client, "keep00000001")
    response = tenant.client.post("/session/keep00000001/dialogue", item, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["fieldErrors"], "formErrors" in error) == ("VALIDATION_ERROR", field_errors, False)
    assert body(tenant.client, "keep00000001") == before


def test_too_deeply_nested_content_is_refused(tenant):
    make_session(tenant.user, "deep00000001", dialogue=0)
    content = "bottom"
    for n in range(20):
        content = [{"id": n, "contentType": "group_log", "isUser": False, "content": content}]
    response = tenant.client.post("/session/deep00000001/dialogue", {"contentType": "ai", "content": content}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fieldErrors"] == {"content": "Dialogue content is nested deeper than 16 levels."}
    assert not DialogueItem.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_lose_no_item_and_no_count(tenant):
    make_session(tenant.user, "busy00000001", dialogue=2, stats_total_user_messages=1)
    threads_count, per_thread = 8, 6
    clients = [key_client(tenant.raw_key) for _ in range(threads_count)]
    statuses = []

    def post_items(index):
        for n in range(per_thread):
            content_type = "user" if n % 2 == 0 else "ai"
            response = clients[index].post(
                "/session/busy00000001/dialogue",
                {"contentType": content_type, "content": f"thread {index} item {n}"},
                format="json",
            )
            statuses.append(response.status_code)

    failures = at_once(threads_count, post_items)

    assert failures == []
    assert statuses == [201] * threads_count * per_thread
    session = UserSession.objects.get(session_id="busy00000001")
    items = list(session.dialogue_items.order_by("position").values_list("position", "item_id", "content"))
    total = 2 + threads_count * per_thread
    assert [position for position, _, _ in items] == list(range(total))
    assert [item_id for _, item_id, _ in items] == list(range(1, total + 1))
    assert len({content for _, _, content in items}) == total
    assert session.stats_total_user_messages == 1 + threads_count * per_thread // 2


def test_a_null_ui_is_stored_and_answered_as_absent_at_every_depth(tenant):
    make_session(tenant.user, "nulu00000001", dialogue=0)
    dialogue = [
        {"id": 1, "contentType": "ai", "isUser": False, "content": "a", "ui": None},
        {"id": 2, "contentType": "group_log", "isUser": False, "ui": None, "content": [
            {"id": 1, "contentType": "log", "isUser": False, "content": "b", "ui": None},
            {"id": 2, "contentType": "log", "isUser": False, "content": "c", "ui": ""},
        ]},
    ]
    assert tenant.client.put("/session/nulu00000001", {"dialogue": dialogue}, format="json").status_code == 200
    rows = list(DialogueItem.objects.order_by("position").values_list("ui", "content"))
    assert rows == [
        (None, "a"),
        (None, [{"id": 1, "contentType": "log", "isUser": False, "content": "b"},
                {"id": 2, "contentType": "log", "isUser": False, "content": "c", "ui": ""}]),
    ]
    assert body(tenant.client, "nulu00000001")["dialogue"] == [
        {"id": 1, "contentType": "ai", "isUser": False, "content": "a"},
        {"id": 2, "contentType": "group_log", "isUser": False, "content": [
            {"id": 1, "contentType": "log", "isUser": False, "content": "b"},
            {"id": 2, "contentType": "log", "isUser": False, "content": "c", "ui": ""},
        ]},
    ]


def test_a_null_ui_written_outside_the_api_is_not_answered(tenant):
    # The admin, a shell or rows from before migration 0003 may hold one in nested content.
    session = make_session(tenant.user, "rawu00000001", dialogue=0)
    DialogueItem.objects.create(
        session=session, position=0, item_id=1, content_type="group_log", is_user=False,
        content=[{"id": 1, "contentType": "log", "isUser": False, "content": [
            {"id": 1, "contentType": "log", "isUser": False, "content": "deep", "ui": None},
        ], "ui": None}],
    )
    expected = [{"id": 1, "contentType": "group_log", "isUser": False, "content": [
        {"id": 1, "contentType": "log", "isUser": False, "content": [
            {"id": 1, "contentType": "log", "isUser": False, "content": "deep"},
        ]},
    ]}]
    assert tenant.client.get("/session").json()[0]["dialogue"] == expected
    assert body(tenant.client, "rawu00000001")["dialogue"] == expected
