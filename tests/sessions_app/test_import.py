import copy
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db.models import TextField
from django.db.models.functions import Cast

from accounts.models import Membership, Organization
from flowdesk.api.fields import parse_iso
from sessions_app.management.commands import import_user_sessions
from sessions_app.models import AudioClip, DialogueItem, UserSession

from .conftest import FIXTURE, make_session, run_import, write_records


def listed(client):
    response = client.get("/session")
    assert response.status_code == 200
    return response.json()


def same_values(got, expected):
    """Equal key for key; timestamps compared as instants (`.250Z` is listed as `.25Z`)."""
    assert list(got) == list(expected)
    for key in expected:
        if key in ("createdAt", "updatedAt"):
            assert parse_iso(got[key]) == parse_iso(expected[key]), key
        else:
            assert got[key] == expected[key], key


def test_imported_file_is_listed_back_value_for_value(tenant, records):
    out, err = run_import(FIXTURE, "--user", "alice")
    assert out.splitlines()[-1] == "created 3, updated 0, unchanged 0"
    assert err == ""
    got = listed(tenant.client)
    # Most recently updated first: the fixture is already in that order.
    assert [s["sessionId"] for s in got] == [r["sessionId"] for r in records]
    for session, record in zip(got, records, strict=True):
        same_values(session, record)
    # int and float numbers come back as they went in
    assert isinstance(got[0]["tutorial"]["tutorialId"], int)
    assert isinstance(got[0]["tutorial"]["progress"], float)
    assert isinstance(got[2]["tutorial"]["progress"], int)
    assert UserSession.objects.filter(organization__isnull=True).count() == 3


def test_list_and_retrieve_render_imported_sessions_alike(tenant):
    """The list renders from rows, one session from its model instance: same bytes, key order too."""
    run_import(FIXTURE, "--user", "alice")
    response = tenant.client.get("/session")
    in_order = {"object_pairs_hook": lambda pairs: pairs}
    listed_sessions = json.loads(response.content, **in_order)
    assert len(listed_sessions) == 3
    for session in listed_sessions:
        session_id = dict(session)["sessionId"]
        assert json.loads(tenant.client.get(f"/session/{session_id}").content, **in_order) == session


def stored():
    """What the database holds for the imported sessions, column by column as text: a JSON column's
    SQL NULL reads None, a JSON null "null"."""

    def rows(model, session_uuid, *order):
        columns = [f.attname for f in model._meta.concrete_fields if not f.primary_key and not f.is_relation]
        casts = [Cast(column, output_field=TextField()) for column in columns]
        return list(model.objects.order_by(session_uuid, *order).values_list(session_uuid, *casts))

    return rows(UserSession, "uuid"), rows(DialogueItem, "session__uuid", "position"), rows(
        AudioClip, "session__uuid", "position"
    )


@pytest.mark.postgres  # the import writes with COPY on PostgreSQL only: elsewhere both runs are the ORM
def test_the_copy_writer_stores_what_the_orm_stores(db, monkeypatch):
    run_import(FIXTURE, "--user", "alice")
    copied = stored()
    assert [row[0] for row in copied[0]] == sorted(r["uuid"] for r in json.loads(FIXTURE.read_text()))
    UserSession.objects.all().delete()

    def through_the_orm(model, attnames, rows):
        model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows])

    monkeypatch.setattr(import_user_sessions, "insert_rows", through_the_orm)
    run_import(FIXTURE, "--user", "alice")
    assert stored() == copied


def test_dialogue_ids_are_stored_as_given_repeats_and_order_included(tenant, records):
    run_import(FIXTURE, "--user", "alice")
    given = [item["id"] for item in records[0]["dialogue"]]
    assert given == [0, 1, 2, 3, 5, 5, 4, 8]  # the fixture repeats 5 and puts 4 after it
    stored = UserSession.objects.get(session_id=records[0]["sessionId"])
    assert list(stored.dialogue_items.order_by("position").values_list("item_id", flat=True)) == given
    assert [item["id"] for item in listed(tenant.client)[0]["dialogue"]] == given


def without_null_ui(items):
    return [
        {key: without_null_ui(value) if key == "content" and isinstance(value, list) else value
         for key, value in item.items() if not (key == "ui" and value is None)}
        for item in items
    ]


def test_an_imported_null_ui_is_stored_as_absent(tenant, records, tmp_path):
    record = copy.deepcopy(records[0])
    record["dialogue"][1]["ui"] = None  # was "example_ui"
    record["dialogue"][2]["ui"] = None
    nested = record["dialogue"][3]["content"][1]
    nested["ui"] = None
    nested["content"][0]["ui"] = None  # was "console"
    out, _ = run_import(write_records(tmp_path, [record]), "--user", "alice")
    assert out.splitlines()[-1] == "created 1, updated 0, unchanged 0"
    assert list(DialogueItem.objects.order_by("position").values_list("ui", flat=True)) == [
        None, None, None, "", None, None, "selectTutorial", None,
    ]
    group = DialogueItem.objects.get(position=3).content
    assert "ui" not in group[1] and "ui" not in group[1]["content"][0]
    dialogue = listed(tenant.client)[0]["dialogue"]
    assert dialogue == without_null_ui(record["dialogue"])
    assert "ui" not in dialogue[1] and "ui" not in dialogue[3]["content"][1]["content"][0]
    # The same record with the keys left out is the same session.
    out, _ = run_import(write_records(tmp_path, [{**record, "dialogue": dialogue}], "again.json"), "--user", "alice")
    assert out.splitlines()[-1] == "created 0, updated 0, unchanged 1"


def test_reimport_changes_nothing(tenant):
    run_import(FIXTURE, "--user", "alice")
    rows = list(DialogueItem.objects.order_by("pk").values_list("pk", flat=True))
    body = listed(tenant.client)
    out, _ = run_import(FIXTURE, "--user", "alice")
    assert out.splitlines()[-1] == "created 0, updated 0, unchanged 3"
    assert list(DialogueItem.objects.order_by("pk").values_list("pk", flat=True)) == rows
    assert listed(tenant.client) == body


def test_changed_records_are_updated_in_place(tenant, records, tmp_path):
    run_import(FIXTURE, "--user", "alice")
    changed = copy.deepcopy(records)
    changed[0]["dialogue"][3]["content"][1]["content"][0]["content"] = "corrigé"
    changed[0]["audios"] = None
    changed[1]["name"] = "Renommée"
    changed[2]["uuid"] = "f4e3d2c1-0000-4876-9543-210fedcba987"  # matched by sessionId
    out, _ = run_import(write_records(tmp_path, changed), "--user", "alice")
    assert out.splitlines()[-1] == "created 0, updated 3, unchanged 0"
    assert UserSession.objects.count() == 3
    for session, record in zip(listed(tenant.client), changed, strict=True):
        same_values(session, record)
    assert not AudioClip.objects.exists()


def test_jsonl_from_stdin_and_dry_run(tenant, records, monkeypatch):
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    out, err = run_import("-", "--user", "alice", "--format", "jsonl", "--dry-run")
    assert out.splitlines()[-1] == "created 3, updated 0, unchanged 0"
    assert "Dry run: everything validated, nothing written." in err
    assert not UserSession.objects.exists()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    run_import("-", "--user", "alice", "--format", "jsonl")
    assert len(listed(tenant.client)) == 3


def test_missing_user_and_organization_are_created(db, tmp_path):
    _, err = run_import(FIXTURE, "--user", "newcomer", "--org", "org_imported000001")
    assert "Created organization org_imported000001." in err
    assert "Created user newcomer." in err
    user = get_user_model().objects.get(username="newcomer")
    assert Membership.objects.filter(user=user, organization_id="org_imported000001").exists()
    assert set(UserSession.objects.values_list("user", "organization")) == {(user.pk, "org_imported000001")}
    assert Organization.objects.count() == 1


BAD_RECORDS = [
    (lambda r: r["dialogue"][1].pop("content"), "dialogue.1.content: This field is required."),
    (lambda r: r["dialogue"][3]["content"][1]["content"][0].update(contentType="shout"),
     'dialogue.3.content.1.content.0.contentType: "shout" is not a valid choice.'),
    (lambda r: r["dialogue"][1].update(ui={"panel": "console"}), "dialogue.1.ui: Not a valid string."),
    (lambda r: r["dialogue"][3]["content"][0].update(ui=["hint"]), "dialogue.3.content.0.ui: Not a valid string."),
    (lambda r: r["quickReplies"].append({"label": "Quiz"}), "quickReplies.3: Not a valid string."),
    (lambda r: r["clients"].append(None), "clients.2: This field may not be null."),
    (lambda r: r["userInfo"].update(email=None), "userInfo.email: This field may not be null."),
    (lambda r: r.update(responseMode="video"), 'responseMode: "video" is not a valid choice.'),
    (lambda r: r["stats"].update(totalUserMessages="2"), "stats.totalUserMessages: A valid integer is required."),
    (lambda r: r.pop("clicks"), "clicks: This field is required."),
    (lambda r: r["clicks"][1].update(x=2**60), "clicks.1.x: Out of range."),
    # PostgreSQL stores no NUL: refused here, since an import file is not read by the API's parser
    (lambda r: r.update(llmContext="a\u0000b"), "llmContext: Null characters are not allowed."),
    (lambda r: r["dialogue"][0].update(content="\u0000"), "dialogue.0.content: Null characters are not allowed."),
    (lambda r: r["workspace"].update({"k\u0000": 1}), "workspace: Null characters are not allowed."),
]


@pytest.mark.parametrize(("spoil", "message"), BAD_RECORDS)
def test_a_bad_record_stops_the_import_and_names_record_and_field(db, records, tmp_path, spoil, message):
    bad = copy.deepcopy(records)
    bad[2], bad[0] = bad[0], bad[2]
    spoil(bad[2])
    with pytest.raises(CommandError) as raised:
        run_import(write_records(tmp_path, bad), "--user", "alice")
    assert str(raised.value) == f"session #3 (sessionId aB3dE5fG7hJ9): {message.rstrip('.')}. Nothing was imported."
    assert not UserSession.objects.exists()
    assert not DialogueItem.objects.exists()


def test_a_reserved_session_id_is_refused(db, records, tmp_path):
    with pytest.raises(CommandError) as raised:
        run_import(write_records(tmp_path, [{**records[0], "sessionId": "new"}]), "--user", "alice")
    assert str(raised.value) == (
        "session #1 (sessionId new): sessionId: 'new' is reserved by the API's paths. Nothing was imported."
    )


def test_another_users_session_is_not_taken_over(tenant, other_tenant, records, tmp_path):
    make_session(other_tenant.user, records[1]["sessionId"])
    with pytest.raises(CommandError) as raised:
        run_import(FIXTURE, "--user", "alice")
    assert str(raised.value) == (
        "session #2 (sessionId Zx9Yw8Vu7Ts6): sessionId: this session belongs to another user. Nothing was imported."
    )
    assert list(UserSession.objects.values_list("user", flat=True)) == [other_tenant.user.pk]


def test_a_session_listed_twice_is_refused(db, records, tmp_path):
    twice = [records[0], records[1], {**records[1], "uuid": "another-uuid"}]
    with pytest.raises(CommandError) as raised:
        run_import(write_records(tmp_path, twice), "--user", "alice")
    assert str(raised.value) == (
        "session #3 (sessionId Zx9Yw8Vu7Ts6): sessionId: an earlier session in the file has this sessionId."
        " Nothing was imported."
    )
    assert not UserSession.objects.exists()


def test_uuid_and_session_id_naming_two_stored_sessions_is_refused(tenant, records, tmp_path):
    run_import(FIXTURE, "--user", "alice")
    mixed = [{**records[0], "sessionId": records[1]["sessionId"]}]
    with pytest.raises(CommandError) as raised:
        run_import(write_records(tmp_path, mixed), "--user", "alice")
    assert "sessionId: names another stored session than the uuid does" in str(raised.value)
