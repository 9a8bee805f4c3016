import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from sessions_app.models import AudioClip, DialogueItem, UserSession

# As GET /session answers them (the vendor's shapes); the first session repeats and reorders client ids.
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "user_sessions.json"


def fixture_records():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def run_import(path, *args):
    """call_command with captured streams; returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_user_sessions", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write_records(tmp_path, records, name="sessions.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def make_session(user, session_id, *, dialogue=2, audios=1, updated_at=AT, **fields):
    """A stored session with ``dialogue`` user/ai items and ``audios`` clips."""
    fields = {"quick_replies": [], "clients": [], "clicks": [], "user_info": str(user.pk), **fields}
    session = UserSession.objects.create(
        user=user, session_id=session_id, uuid=f"uuid-{session_id}", created_at=AT, updated_at=updated_at, **fields
    )
    DialogueItem.objects.bulk_create(
        DialogueItem(
            session=session, position=n, item_id=n + 1, content_type="user" if n % 2 == 0 else "ai",
            is_user=n % 2 == 0, content=f"message {n + 1}", ui=None,
        )
        for n in range(dialogue)
    )
    AudioClip.objects.bulk_create(
        AudioClip(session=session, position=n, clip_id=f"clip-{n}", base64="AAAA") for n in range(audios)
    )
    return session


@pytest.fixture
def records():
    return fixture_records()
