from django.db.models import Q

from flowdesk.importing.command import CREATED, UNCHANGED, UPDATED, ImportCommand, RecordError
from flowdesk.importing.rows import insert_rows
from sessions_app import services
from sessions_app.api.serializers import (
    AUDIO_COLUMNS,
    DIALOGUE_COLUMNS,
    audio_row,
    audio_rows,
    dialogue_row,
    dialogue_rows,
    session_values,
)
from sessions_app.importing.fastpath import validated_session
from sessions_app.models import AudioClip, DialogueItem, UserSession

# Every column of a new session (a validated record gives each a value); the id is numbered by the database.
# retention_hold is Flowdesk's own, not the vendor's: a new session takes its default.
NEW_SESSION_COLUMNS = tuple(
    f.attname for f in UserSession._meta.concrete_fields if not f.primary_key and f.attname != "retention_hold"
)


def _existing_dialogue(session):
    """The stored items in the renderer's columns: what ``dialogue_rows`` gives for a record."""
    return [dialogue_row(item) for item in session.dialogue_items.all()]


def _existing_audios(session):
    return [audio_row(clip) for clip in session.audio_clips.all()]


class Command(ImportCommand):
    help = (
        "Import user sessions from the body of GET /session (a JSON array of user sessions, or JSON "
        "Lines) for one user. Sessions are matched by uuid or sessionId, so re-importing a file "
        "changes nothing."
    )
    record_name = "session"

    def add_scope_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username owning the sessions; created when missing.")
        parser.add_argument(
            "--org", help="Organization id recorded on the sessions (created when missing; the user joins it)."
        )

    def resolve_scope(self, options):
        organization = self.get_or_create_organization(options["org"]) if options["org"] else None
        user = self.get_or_create_user(options["user"], organization)
        # Every uuid and sessionId read so far: a file lists a session once.
        self._seen = {"uuid": set(), "sessionId": set()}
        return user, organization

    def parse_record(self, record, scope):
        # A well-formed record skips DRF's field machinery; any other is validated by the
        # serializer, which words the error and names its field path.
        data = validated_session(record)
        for key, seen in self._seen.items():
            if data[key] in seen:
                raise RecordError(key, f"an earlier session in the file has this {key}")
        for key, seen in self._seen.items():
            seen.add(data[key])
        return data

    def write_batch(self, batch, scope):
        user, organization = scope
        existing = list(
            UserSession.objects.with_children().filter(
                Q(uuid__in=[data["uuid"] for _, data in batch])
                | Q(session_id__in=[data["sessionId"] for _, data in batch])
            )
        )
        by_uuid = {session.uuid: session for session in existing}
        by_session_id = {session.session_id: session for session in existing}

        outcomes, to_create, to_update, children, changed_sessions = [], [], [], [], []
        update_fields = set()
        for position, data in batch:
            match = self._match(position, data, by_uuid, by_session_id, user)
            values = session_values(data)
            if organization is not None or match is None:
                values["organization_id"] = organization.pk if organization else None
            dialogue, audios = dialogue_rows(data["dialogue"]), audio_rows(data["audios"])
            if match is None:
                values["user_id"] = user.pk
                to_create.append(tuple(values[column] for column in NEW_SESSION_COLUMNS))
                children.append((data["uuid"], dialogue, audios))
                outcomes.append(CREATED)
                continue
            changed = [column for column, value in values.items() if getattr(match, column) != value]
            new_dialogue = dialogue if _existing_dialogue(match) != dialogue else None
            new_audios = audios if _existing_audios(match) != audios else None
            if changed:
                for column in changed:
                    setattr(match, column, values[column])
                update_fields.update(changed)
                to_update.append(match)
            if new_dialogue is not None or new_audios is not None:
                children.append((match, new_dialogue, new_audios))
            if changed or new_dialogue is not None or new_audios is not None:
                outcomes.append(UPDATED)
                changed_sessions.append(match)
            else:
                outcomes.append(UNCHANGED)

        insert_rows(UserSession, NEW_SESSION_COLUMNS, to_create)  # their pks are read back by uuid below
        if to_update:
            UserSession.objects.bulk_update(to_update, sorted(update_fields), batch_size=500)
        self._write_children(children)
        # A live session's listeners hear the change; new sessions have none yet (and a history load
        # is not news for webhooks).
        for session in changed_sessions:
            services.published(session)
        return outcomes

    def _match(self, position, data, by_uuid, by_session_id, user):
        """The stored session this record is, by uuid or else by sessionId; None when it is new."""
        same_uuid, same_session_id = by_uuid.get(data["uuid"]), by_session_id.get(data["sessionId"])
        problem = None
        if same_uuid and same_session_id and same_uuid.pk != same_session_id.pk:
            problem = RecordError("sessionId", "names another stored session than the uuid does", position=position)
        match = same_uuid or same_session_id
        if match is not None and match.user_id != user.pk:
            key = "uuid" if same_uuid else "sessionId"
            problem = RecordError(key, "this session belongs to another user", position=position)
        if problem is not None:
            problem.label = self.record_label(data)
            raise problem
        return match

    def _write_children(self, children):
        """Dialogue items and audio clips of new sessions, and replacements for changed ones."""
        new_pks = dict(
            UserSession.objects.filter(uuid__in=[s for s, _, _ in children if isinstance(s, str)]).values_list(
                "uuid", "pk"
            )
        )
        dialogue_of, audios_of = {}, {}
        for session, dialogue, audios in children:
            pk = new_pks[session] if isinstance(session, str) else session.pk
            if dialogue is not None:
                dialogue_of[pk] = dialogue
            if audios is not None:
                audios_of[pk] = audios
        DialogueItem.objects.filter(session_id__in=list(dialogue_of)).delete()
        AudioClip.objects.filter(session_id__in=list(audios_of)).delete()
        for model, columns, rows_of in ((DialogueItem, DIALOGUE_COLUMNS, dialogue_of), (AudioClip, AUDIO_COLUMNS, audios_of)):
            insert_rows(
                model,
                ("session_id", "position", *columns),
                [(pk, position, *row) for pk, rows in rows_of.items() for position, row in enumerate(rows)],
            )

