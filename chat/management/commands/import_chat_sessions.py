from django.db.models import Q
from django.utils import timezone

from accounts.importing import (
    CREATED,
    UNCHANGED,
    UPDATED,
    ImportCommand,
    RecordError,
    serializer_errors,
    sync_rows,
)
from chat.api.serializers import ImportChatSessionSerializer
from chat.models import ChatMessage, ChatSession, ContextType, Role, Workflow, preview_of

SESSION_FIELDS = [
    "context_type",
    "session_id",
    "workflow_id",
    "message_count",
    "first_message_at",
    "last_message_at",
    "preview",
    "activity_at",
]
MESSAGE_FIELDS = ["session_id", "role", "content", "tokens_used", "image_urls", "created_at"]


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
        "matched by sessionId, workflow chats by workflowId; workflows are created or renamed."
    )
    record_name = "session"
    envelope_prefix = "data.items.item"

    def add_scope_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization id; created when missing.")

    def resolve_scope(self, options):
        self.seen = set()
        return self.get_or_create_organization(options["org"])

    def parse_record(self, record, organization):
        item = serializer_errors(ImportChatSessionSerializer, record)
        key = session_key(item)
        if key in self.seen:
            field = "workflowId" if key[0] == ContextType.WORKFLOW else "sessionId"
            raise RecordError(field, "this session appears earlier in the file")
        self.seen.add(key)
        return item

    def write_batch(self, batch, organization):
        now = timezone.now()
        origin = {}

        # Workflows named by the items: created, or renamed to the file's workflowName.
        workflows = {}
        for position, item in batch:
            if item.get("workflowId") is not None:
                workflows[item["workflowId"]] = {"organization_id": organization.pk, "name": item.get("workflowName")}
                origin[item["workflowId"]] = (position, "workflowId")
        changed_workflows = set().union(*sync_rows(
            Workflow, workflows, ["name"],
            check=lambda obj, values: (
                "this workflow belongs to another organization"
                if obj.organization_id != values["organization_id"] else None
            ),
            origin=origin,
        ))

        # Sessions, matched by their key inside the organization.
        session_ids = [item["sessionId"] for _, item in batch if item.get("sessionId") is not None]
        workflow_ids = [item["workflowId"] for _, item in batch if item["contextType"] == ContextType.WORKFLOW]
        existing = list(
            ChatSession.objects.filter(organization=organization).filter(
                Q(session_id__in=session_ids) | Q(context_type=ContextType.WORKFLOW, workflow_id__in=workflow_ids)
            )
        )
        by_key = {
            (ContextType.WORKFLOW, s.workflow_id) if s.context_type == ContextType.WORKFLOW
            else (ContextType.SESSION, s.session_id): s
            for s in existing
        }
        by_session_id = {s.session_id: s for s in existing if s.session_id is not None}

        sessions, to_create, to_update, created, updated = {}, [], [], set(), set()
        for position, item in batch:
            key = session_key(item)
            session = by_key.get(key)
            holder = by_session_id.get(item.get("sessionId"))
            if holder is not None and holder is not session:
                raise RecordError("sessionId", "another chat session of this organization has this sessionId",
                                  position=position)
            values = {
                "context_type": item["contextType"],
                "session_id": item.get("sessionId"),
                "workflow_id": item.get("workflowId"),
                **summary(item),
            }
            created_at = session.created_at if session else (values["first_message_at"] or now)
            values["activity_at"] = values["last_message_at"] or values["first_message_at"] or created_at
            if session is None:
                session = ChatSession(organization=organization, created_at=created_at, **values)
                to_create.append(session)
                created.add(key)
            else:
                changed = [name for name in SESSION_FIELDS if getattr(session, name) != values[name]]
                for name in changed:
                    setattr(session, name, values[name])
                if changed:
                    to_update.append(session)
                    updated.add(key)
            sessions[key] = session
        ChatSession.objects.bulk_create(to_create, batch_size=500)
        ChatSession.objects.bulk_update(to_update, SESSION_FIELDS, batch_size=500)

        # Messages of the items that carry them: the stored ones become exactly the file's.
        messages, with_messages = {}, []
        for position, item in batch:
            if "messages" not in item:
                continue
            session = sessions[session_key(item)]
            with_messages.append(session.pk)
            for index, message in enumerate(item["messages"]):
                messages[message["id"]] = {
                    "session_id": session.pk,
                    "role": message["role"],
                    "content": message["content"],
                    "tokens_used": message.get("tokensUsed"),
                    "image_urls": message.get("imageUrls") or [],
                    "created_at": message["createdAt"],
                }
                origin[message["id"]] = (position, f"messages.{index}.id")
        changed_sessions = set()
        for pk in set().union(*sync_rows(
            ChatMessage, messages, MESSAGE_FIELDS,
            check=lambda obj, values: (
                "this message belongs to another chat session" if obj.session_id != values["session_id"] else None
            ),
            origin=origin,
        )):
            changed_sessions.add(messages[pk]["session_id"])
        stale = ChatMessage.objects.filter(session_id__in=with_messages).exclude(id__in=list(messages))
        stale_sessions = set(stale.values_list("session_id", flat=True))
        if stale_sessions:
            changed_sessions |= stale_sessions
            stale.delete()  # recounts those sessions: the same summary the file gave

        outcomes = []
        for _, item in batch:
            key = session_key(item)
            session = sessions[key]
            if key in created:
                outcomes.append(CREATED)
            elif key in updated or session.pk in changed_sessions or item.get("workflowId") in changed_workflows:
                outcomes.append(UPDATED)
            else:
                outcomes.append(UNCHANGED)
        return outcomes
