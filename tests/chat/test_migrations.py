"""Migration 0004 gives workflows a numbered key and makes their ids unique per organization, keeping every row."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("chat", "0003_conversations_and_message_links")]
AFTER = [("chat", "0004_workflow_id_per_organization")]
AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
IDS = [uuid.UUID(f"3c90c3cc-0d44-4b50-8888-8dd2573605{n:02d}") for n in range(4)]


def migrate(targets):
    MigrationExecutor(connection).migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def snapshot(apps, workflow_key):
    """What the chat tables say, with each session's workflow named by its UUID."""
    Workflow, ChatSession = apps.get_model("chat", "Workflow"), apps.get_model("chat", "ChatSession")
    ChatMessage = apps.get_model("chat", "ChatMessage")
    workflows = sorted(
        (str(getattr(w, workflow_key)), w.organization_id, w.name, w.created_at) for w in Workflow.objects.all()
    )
    sessions = sorted(
        (s.pk, s.organization_id, s.context_type, s.session_id,
         str(getattr(s.workflow, workflow_key)) if s.workflow_id else None, s.conversation_id, s.message_count)
        for s in ChatSession.objects.select_related("workflow")
    )
    messages = sorted(ChatMessage.objects.values_list("id", "session_id", "conversation_id", "content"))
    return workflows, sessions, messages


@pytest.mark.django_db(transaction=True)
def test_0004_keeps_every_workflow_and_chat_and_lets_two_organizations_share_an_id():
    try:
        old = migrate(BEFORE)
        Organization = old.get_model("accounts", "Organization")
        Workflow, ChatSession = old.get_model("chat", "Workflow"), old.get_model("chat", "ChatSession")
        ChatMessage, Conversation = old.get_model("chat", "ChatMessage"), old.get_model("chat", "Conversation")
        a = Organization.objects.create(pk="org_migrationA00001")
        b = Organization.objects.create(pk="org_migrationB00001")
        conversation = Conversation.objects.create(organization=a, conversation_id="conv_1")
        workflows = [
            Workflow.objects.create(id=IDS[0], organization=a, name="Leads", created_at=AT),
            Workflow.objects.create(id=IDS[1], organization=a, name=None, created_at=AT),
            Workflow.objects.create(id=IDS[2], organization=b, name="Digest", created_at=AT),
            Workflow.objects.create(id=IDS[3], organization=b, name="No chat yet", created_at=AT),
        ]
        chats = [
            ChatSession.objects.create(organization=a, context_type="workflow", workflow=workflows[0],
                                       conversation=conversation, message_count=2),
            ChatSession.objects.create(organization=a, context_type="workflow", workflow=workflows[1]),
            ChatSession.objects.create(organization=b, context_type="workflow", workflow=workflows[2], message_count=1),
            # An imported create-page chat that names a workflow too.
            ChatSession.objects.create(organization=a, context_type="session", session_id="session_1",
                                       workflow=workflows[0], conversation=conversation),
            ChatSession.objects.create(organization=b, context_type="session", session_id="session_2"),
        ]
        for n, (session, content) in enumerate([(chats[0], "a"), (chats[0], "b"), (chats[2], "c"), (chats[3], "d")]):
            ChatMessage.objects.create(id=uuid.UUID(int=n + 1), session=session, role="user", content=content,
                                       conversation_id=session.conversation_id, created_at=AT)
        before = snapshot(old, "id")

        new = migrate(AFTER)
        assert snapshot(new, "uuid") == before  # every row, every value, each chat on its workflow
        Workflow, ChatSession = new.get_model("chat", "Workflow"), new.get_model("chat", "ChatSession")
        assert [type(pk) for pk in Workflow.objects.values_list("pk", flat=True)] == [int] * 4
        # Another organization may now hold an id; the same organization still may not, twice.
        Workflow.objects.create(uuid=IDS[0], organization_id=b.pk, name="Theirs too")
        with pytest.raises(IntegrityError), transaction.atomic():
            Workflow.objects.create(uuid=IDS[0], organization_id=a.pk)
        # Back to 0003: refused while two organizations share an id (and nothing changes) ...
        with pytest.raises(IrreversibleError):
            migrate(BEFORE)
        assert MigrationExecutor(connection).loader.applied_migrations.keys() >= {AFTER[0]}
        assert Workflow.objects.count() == 5
        # ... and, once they do not, it restores what there was.
        Workflow.objects.filter(name="Theirs too").delete()
        assert snapshot(migrate(BEFORE), "id") == before
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
