from django.db.models import Q
from django.utils import timezone

from chat import services
from chat.api.serializers import MESSAGE_COLUMNS
from chat.importing.fastpath import well_formed_chat_session
from chat.importing.serializers import ImportChatSessionSerializer
from chat.models import ChatMessage, ChatSession, ContextType, Conversation, Role, Workflow, preview_of
from flowdesk.importing.command import (
    CREATED,
    UNCHANGED,
    UPDATED,
    ImportCommand,
    RecordError,
    serializer_errors,
)
from flowdesk.importing.rows import insert_rows, sync_rows

SESSION_FIELDS = [
    "context_type",
    "session_id",
    "workflow_id",
    "conversation_id",
    "message_count",
    "first_message_at",
    "last_message_at",
    "preview",
    "activity_at",
]
# A message's row: its session's, and its own columns as the history shape names them.
MESSAGE_FIELDS = ["session_id", "conversation_id", *MESSAGE_COLUMNS.values()]


def session_key(item):
    """How a session is matched: its sessionId, or for a workflow chat its workflowId."""
    if item["contextType"] == ContextType.WORKFLOW:
        return (ContextType.WORKFLOW, item["workflowId"])
    return (ContextType.SESSION, item["sessionId"])


def summary(item):
    """The summary fields: computed from `messages` when the item has them, else as given."""
    if "messages" not in item:
        return {
            "message_count": item["messageCount"],
            "first_message_at": item["firstMessageAt"],
            "last_message_at": item["lastMessageAt"],
            "preview": item["preview"],
        }
    messages = sorted(item["messages"], key=lambda m: (m["createdAt"], str(m["id"])))
    first_user = next((m for m in messages if m["role"] == Role.USER), None)
    return {
        "message_count": len(messages),
        "first_message_at": messages[0]["createdAt"] if messages else None,
        "last_message_at": max(m["createdAt"] for m in messages) if messages else None,
        "preview": preview_of(first_user["content"]) if first_user else None,
    }


class Command(ImportCommand):
    help = (
        "Import workflow chat sessions from the body of GET /v1/ai/workflow/chat/sessions (the whole "
        "envelope, its data.items array, or JSON Lines of items). An item may add `messages: [...]` in "
        "the history shape; its messageCount, firstMessageAt, lastMessageAt and preview are then computed "
        "from them (and the stored messages replaced by the file's), else taken as given. Sessions are "
        "matched by sessionId, workflow chats by workflowId; workflows are created or renamed, conversations "
        "(conversationId) created; an item without the conversationId key keeps the session's. \"\" is read as "
        "absent for ids and names."
    )
    record_name = "session"
    organization_flag = True
    envelope_prefix = "data.items.item"

    def resolve_scope(self, options):
        self.seen = set()
        return self.get_or_create_organization(options["org"])

    def parse_record(self, record, organization):
        # The plain-Python check for a well-formed record; the serializer words any error.
        item = well_formed_chat_session(record) or serializer_errors(ImportChatSessionSerializer, record)
        key = session_key(item)
        if key in self.seen:
            field = "workflowId" if key[0] == ContextType.WORKFLOW else "sessionId"
            raise RecordError(field, "this session appears earlier in the file")
        self.seen.add(key)
        return item

    def write_batch(self, batch, organization):
        now = timezone.now()
        origin = {}

        # Workflows named by the items (this organization's: ids are unique per organization only),
        # created, or renamed to the file's workflowName.
        names = {item["workflowId"]: item.get("workflowName") for _, item in batch if item.get("workflowId") is not None}
        workflow_pks, changed_workflows = sync_workflows(organization, names, now)
        workflow_uuids = {pk: value for value, pk in workflow_pks.items()}
        conversations = sync_conversations(organization, batch, now)

        # Sessions, matched by their key inside the organization.
        session_ids = [item["sessionId"] for _, item in batch if item.get("sessionId") is not None]
        workflow_ids = [workflow_pks[item["workflowId"]] for _, item in batch if item["contextType"] == ContextType.WORKFLOW]
        existing = list(
            ChatSession.objects.filter(organization=organization).filter(
                Q(session_id__in=session_ids) | Q(context_type=ContextType.WORKFLOW, workflow_id__in=workflow_ids)
            )
        )
        by_key = {
            (ContextType.WORKFLOW, workflow_uuids[s.workflow_id]) if s.context_type == ContextType.WORKFLOW
            else (ContextType.SESSION, s.session_id): s
            for s in existing
        }
        by_session_id = {s.session_id: s for s in existing if s.session_id is not None}

        # sessions: key -> pk, of the matched sessions here and of the new ones that carry messages below
        sessions, to_create, to_update, created, updated = {}, [], [], set(), set()
        # conversation_of: session pk -> its conversation's pk; moved: conversation pk -> sessions whose
        # stored messages follow them there (their messages are not in the file)
        conversation_of, moved = {}, {}
        for position, item in batch:
            key = session_key(item)
            session = by_key.get(key)
            holder = by_session_id.get(item.get("sessionId"))
            if holder is not None and holder is not session:
                raise RecordError("sessionId", "another chat session of this organization has this sessionId",
                                  position=position)
            if "conversationId" in item:
                conversation = conversations.get(item["conversationId"])
            else:  # an older export: the session keeps its conversation
                conversation = session.conversation_id if session else None
            values = {
                "context_type": item["contextType"],
                "session_id": item.get("sessionId"),
                "workflow_id": workflow_pks.get(item.get("workflowId")),
                "conversation_id": conversation,
                **summary(item),
            }
            created_at = session.created_at if session else (values["first_message_at"] or now)
            values["activity_at"] = values["last_message_at"] or values["first_message_at"] or created_at
            if session is None:
                to_create.append((organization.pk, created_at, *(values[name] for name in SESSION_FIELDS)))
                created.add(key)
                continue
            changed = [name for name in SESSION_FIELDS if getattr(session, name) != values[name]]
            for name in changed:
                setattr(session, name, values[name])
            if changed:
                to_update.append(session)
                updated.add(key)
                if "conversation_id" in changed and "messages" not in item:
                    moved.setdefault(values["conversation_id"], []).append(session.pk)
            sessions[key] = session.pk
            conversation_of[session.pk] = values["conversation_id"]
        insert_rows(ChatSession, ("organization_id", "created_at", *SESSION_FIELDS), to_create)
        if to_update:
            ChatSession.objects.bulk_update(to_update, SESSION_FIELDS, batch_size=500)
        for conversation, session_pks in moved.items():
            ChatMessage.objects.filter(session_id__in=session_pks).update(conversation_id=conversation)
        # New sessions that carry messages: their pks, read back by key (COPY returns none).
        new_keys = [session_key(item) for _, item in batch if "messages" in item and session_key(item) in created]
        if new_keys:
            new_session_ids = [value for kind, value in new_keys if kind == ContextType.SESSION]
            new_workflow_ids = [workflow_pks[value] for kind, value in new_keys if kind == ContextType.WORKFLOW]
            for pk, context_type, session_id, workflow_id, conversation in ChatSession.objects.filter(
                organization=organization
            ).filter(
                Q(context_type=ContextType.SESSION, session_id__in=new_session_ids)
                | Q(context_type=ContextType.WORKFLOW, workflow_id__in=new_workflow_ids)
            ).values_list("pk", "context_type", "session_id", "workflow_id", "conversation_id"):
                key = (ContextType.WORKFLOW, workflow_uuids[workflow_id]) if context_type == ContextType.WORKFLOW else (
                    ContextType.SESSION, session_id)
                sessions[key] = pk
                conversation_of[pk] = conversation

        # Messages of the items that carry them: the stored ones become exactly the file's.
        messages, with_messages = {}, []
        for position, item in batch:
            if "messages" not in item:
                continue
            pk = sessions[session_key(item)]
            with_messages.append(pk)
            for index, message in enumerate(item["messages"]):
                values = {column: message.get(key) for key, column in MESSAGE_COLUMNS.items()}
                values["image_urls"] = values["image_urls"] or []  # null is stored as no images
                messages[message["id"]] = {"session_id": pk, "conversation_id": conversation_of[pk], **values}
                origin[message["id"]] = (position, f"messages.{index}.id")
        changed_sessions = set()
        new_messages, updated_messages = sync_rows(
            ChatMessage, messages, MESSAGE_FIELDS,
            check=lambda obj, values: (
                "this message belongs to another chat session" if obj.session_id != values["session_id"] else None
            ),
            origin=origin,
        )
        for pk in new_messages | updated_messages:
            changed_sessions.add(messages[pk]["session_id"])
        # A chat that was already here: its listeners and webhooks hear of the messages the file added
        # (a new chat's history is not news; nobody listens to it yet).
        existing = {pk for key, pk in sessions.items() if key not in created}
        for pk in sorted(new_messages, key=lambda pk: (str(messages[pk]["created_at"]), pk)):
            if messages[pk]["session_id"] in existing:
                services.published(pk, organization.pk)
        stale = ChatMessage.objects.filter(session_id__in=with_messages).exclude(id__in=list(messages))
        stale_sessions = set(stale.values_list("session_id", flat=True))
        if stale_sessions:
            changed_sessions |= stale_sessions
            stale.delete()  # recounts those sessions: the same summary the file gave

        outcomes = []
        for _, item in batch:
            key = session_key(item)
            if key in created:
                outcomes.append(CREATED)
            elif key in updated or sessions[key] in changed_sessions or item.get("workflowId") in changed_workflows:
                outcomes.append(UPDATED)
            else:
                outcomes.append(UNCHANGED)
        return outcomes


def sync_conversations(organization, batch, now):
    """The organization's conversations the items name (conversationId -> pk), created when new."""
    wanted = {item["conversationId"] for _, item in batch if item.get("conversationId") is not None}
    if not wanted:
        return {}
    conversations = Conversation.objects.filter(organization=organization, conversation_id__in=wanted)
    existing = dict(conversations.values_list("conversation_id", "pk"))
    missing = sorted(wanted - set(existing))
    if missing:
        Conversation.objects.bulk_create(
            [Conversation(organization=organization, conversation_id=value, created_at=now) for value in missing]
        )
        existing = dict(conversations.values_list("conversation_id", "pk"))
    return existing


def sync_workflows(organization, names, now):
    """The organization's workflows of these ids (workflowId -> name), created or renamed, new ones
    written as plain rows. Another organization's workflow of the same id is not looked at.

    Returns ({workflowId: pk}, the workflowIds created or renamed).
    """
    if not names:
        return {}, set()
    workflows = Workflow.objects.filter(organization=organization, uuid__in=list(names))
    existing = {workflow.uuid: workflow for workflow in workflows}
    new, renamed = [], []
    for value, name in names.items():
        workflow = existing.get(value)
        if workflow is None:
            new.append((value, organization.pk, name, now))
        elif workflow.name != name:
            workflow.name = name
            renamed.append(workflow)
    if renamed:
        Workflow.objects.bulk_update(renamed, ["name"], batch_size=500)
    pks = {value: workflow.pk for value, workflow in existing.items()}
    if new:
        insert_rows(Workflow, ("uuid", "organization_id", "name", "created_at"), new)
        # Their pks, read back by id (COPY returns none).
        pks.update(workflows.filter(uuid__in=[row[0] for row in new]).values_list("uuid", "pk"))
    return pks, {row[0] for row in new} | {workflow.uuid for workflow in renamed}

