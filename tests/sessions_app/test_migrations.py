"""Migration 0003 rewrites stored values into the vendor's shapes without losing what they said."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("sessions_app", "0002_admin_list_index")]
AFTER = [("sessions_app", "0003_vendor_dialogue_ui_and_ids")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0003_moves_stored_values_into_the_vendors_shapes(django_user_model):
    user = django_user_model.objects.create_user(username="alice")
    try:
        old = migrate(BEFORE)
        UserSession = old.get_model("sessions_app", "UserSession")
        DialogueItem = old.get_model("sessions_app", "DialogueItem")
        session = UserSession.objects.create(
            session_id="migr00000001", uuid="u-1", user_id=user.pk,
            quick_replies=["Yes", {"label": "Quiz", "value": 2}], clients=["c1", 7],
            user_info={"id": "1", "username": None, "image": None, "email": None},
        )
        plain = UserSession.objects.create(
            session_id="migr00000002", uuid="u-2", user_id=user.pk, quick_replies=None, clients=[], user_info="1",
        )
        nested = [
            {"id": 1, "contentType": "log", "isUser": False, "content": "a", "ui": None},
            {"id": 2, "contentType": "group_log", "isUser": False, "ui": {"panel": 1}, "content": [
                {"id": 1, "contentType": "log", "isUser": False, "content": "b", "ui": None},
                {"id": 2, "contentType": "log", "isUser": False, "content": "c", "ui": "kept"},
            ]},
        ]
        rows = [("example_ui", "x"), ({"collapsed": True}, "x"), (["button", "hint"], "x"), (None, "x"), (None, nested)]
        for position, (ui, content) in enumerate(rows):
            DialogueItem.objects.create(
                session_id=session.pk, position=position, item_id=position + 1, content_type="ai", is_user=False,
                content=content, ui=ui,
            )

        new = migrate(AFTER)
        DialogueItem = new.get_model("sessions_app", "DialogueItem")
        UserSession = new.get_model("sessions_app", "UserSession")
        items = list(DialogueItem.objects.filter(session_id=session.pk).order_by("position"))
        assert [item.ui for item in items] == ["example_ui", '{"collapsed":true}', '["button","hint"]', None, None]
        assert items[4].content == [
            {"id": 1, "contentType": "log", "isUser": False, "content": "a"},
            {"id": 2, "contentType": "group_log", "isUser": False, "ui": '{"panel":1}', "content": [
                {"id": 1, "contentType": "log", "isUser": False, "content": "b"},
                {"id": 2, "contentType": "log", "isUser": False, "content": "c", "ui": "kept"},
            ]},
        ]
        session = UserSession.objects.get(pk=session.pk)
        assert session.quick_replies == ["Yes", '{"label":"Quiz","value":2}']
        assert session.clients == ["c1", "7"]
        assert session.user_info == {"id": "1", "username": "", "image": None, "email": ""}
        plain = UserSession.objects.get(pk=plain.pk)
        assert (plain.quick_replies, plain.clients, plain.user_info) == (None, [], "1")
        # Ids are the client's now: a repeat is stored.
        DialogueItem.objects.create(
            session_id=session.pk, position=5, item_id=1, content_type="ai", is_user=False, content="again"
        )
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
