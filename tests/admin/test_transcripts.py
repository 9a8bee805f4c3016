"""Conversations read as conversations on their admin pages: a user session's transcript (with its
audio clips playable), a chat session's messages, a live flow session's timeline on its graph."""

import base64
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from chat.models import ChatMessage, ChatSession, Role
from flows.models import LiveFlowSession, LiveFlowSessionStep, SessionStatus
from sessions_app.models import AudioClip, DialogueItem, UserSession
from tests.admin.conftest import AT, branching_version
from tests.admin.helpers import admin_url, logged_in
from tests.chat.factories import chat
from tests.flows.factories import make_live_flow

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'
HOSTILE_HTML = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"


def pane(response, marker):
    """The reading pane's HTML (from its marker class to the end of its fieldset)."""
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index(f'<div class="fd-pane {marker}">')
    return html[start:html.index("</fieldset>", start)]


def audio_url(session, position):
    return admin_url(UserSession, "change", session.pk).replace("/change/", f"/audio/{position}/")


def item(position, content_type, content, is_user=False, ui=None):
    return {"position": position, "item_id": position + 1, "content_type": content_type, "is_user": is_user,
            "content": content, "ui": ui}


def dialogue(session, items):
    DialogueItem.objects.bulk_create(DialogueItem(session=session, **fields) for fields in items)


def nested(item_id, content_type, content, is_user=False, ui=None):
    return {"id": item_id, "contentType": content_type, "isUser": is_user, "content": content, "ui": ui}


# --- user sessions ----------------------------------------------------------------------------


def test_a_user_sessions_page_shows_its_dialogue_as_a_transcript(admin_client_, mine):
    session = UserSession.objects.create(user=mine.tenant.user, organization=mine.tenant.organization, name="Loops")
    dialogue(session, [
        item(0, "user", HOSTILE, is_user=True),
        item(1, "ai", "Use a for loop."),
        item(2, "group_log", [
            nested(10, "log", "compiling"),
            nested(11, "group_log", [nested(12, "error", "SyntaxError: <eof>")]),
        ]),
        item(3, "user_audio", "こんにちは", is_user=True, ui="mic"),
        item(4, "info", "VM started"),
    ])
    AudioClip.objects.create(session=session, position=0, clip_id="clip-<1>", base64=base64.b64encode(b"RIFF....WAVE").decode())

    html = pane(admin_client_.get(admin_url(UserSession, "change", session.pk)), "fd-transcript")

    # Turns in order: the user's bubble (escaped), the tutor's, the folded group, the audio turn, a line.
    assert re.findall(r'<div class="fd-turn fd-(\w+)"', html) == ["user", "tutor", "user"]
    assert f'<div class="fd-bubble">{HOSTILE_HTML}</div>' in html
    assert "<script>alert" not in html and "<b>bold" not in html
    assert '<div class="fd-bubble">Use a for loop.</div>' in html
    assert '<div class="fd-bubble">こんにちは</div>' in html and "🎤 (audio)" in html and "ui: mic" in html
    # The group log and the one nested in it are folded; the error inside is red and escaped.
    assert html.count('<details class="fd-group">') == 2 and "<details class=\"fd-group\" open" not in html
    assert "group_log · 2 items · #3" in html and "group_log · 1 item · #11" in html
    assert '<div class="fd-line fd-error" data-item-id="12"><span class="fd-type">error</span>SyntaxError: &lt;eof&gt;</div>' in html
    assert html.index("compiling") < html.index("SyntaxError") < html.index("こんにちは") < html.index("VM started")
    assert html.count("</details>") == 2
    # The clip plays from its own URL; its id is escaped.
    assert f'<audio controls preload="none" src="{audio_url(session, 0)}"></audio>' in html
    assert "<code>clip-&lt;1&gt;</code> · 12\xa0bytes" in html


def test_a_transcript_shows_the_latest_items(admin_client_, mine, monkeypatch):
    from sessions_app import transcript

    monkeypatch.setattr(transcript, "TRANSCRIPT_SHOWN", 3)
    session = UserSession.objects.create(user=mine.tenant.user, session_id="manyitems001")
    dialogue(session, [item(n, "user", f"message {n}", is_user=True) for n in range(5)])
    html = pane(admin_client_.get(admin_url(UserSession, "change", session.pk)), "fd-transcript")
    assert re.findall(r'<div class="fd-bubble">(message \d)</div>', html) == ["message 2", "message 3", "message 4"]
    assert "The latest 3 dialogue items" in html
    assert 'href="/admin/sessions_app/dialogueitem/?q=manyitems001"' in html


def test_an_empty_dialogue_says_so(admin_client_, mine):
    session = UserSession.objects.create(user=mine.tenant.user)
    html = pane(admin_client_.get(admin_url(UserSession, "change", session.pk)), "fd-transcript")
    assert "No dialogue yet." in html and "Audio clips" not in html


def test_the_add_page_has_no_transcript(admin_client_, mine):
    response = admin_client_.get(admin_url(UserSession, "add"))
    assert response.status_code == 200 and b"fd-transcript" not in response.content


@pytest.mark.parametrize(("stored", "content_type", "body"), [
    (base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode(), "audio/wav", b"RIFF\x24\x00\x00\x00WAVEfmt "),
    ("data:audio/ogg;codecs=opus;base64," + base64.b64encode(b"OggS\x00\x02").decode(), "audio/ogg", b"OggS\x00\x02"),
    (base64.b64encode(b"ID3\x04rest").decode(), "audio/mpeg", b"ID3\x04rest"),
    # base64 as some clients send it: wrapped, without its padding
    ("GkXf\no0I=".rstrip("="), "audio/webm", b"\x1aE\xdf\xa3B"),
])
def test_an_audio_clip_is_served_to_staff_of_its_organization(staff_client, mine, stored, content_type, body):
    session = mine.objects[UserSession]
    AudioClip.objects.filter(session=session).update(base64=stored)
    response = staff_client.get(audio_url(session, 0))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content == body
    assert response["Content-Length"] == str(len(body))
    assert "private, no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_audio_clip_is_not_served_outside_its_organization(staff_client, admin_client_, client, mine, theirs):
    theirs_session = theirs.objects[UserSession]
    assert staff_client.get(audio_url(theirs_session, 0)).status_code == 404
    assert admin_client_.get(audio_url(theirs_session, 0)).status_code == 200  # a superuser's
    assert staff_client.get(audio_url(mine.objects[UserSession], 0)).status_code == 200
    # Not logged in: the admin's login page, never the clip.
    response = client.get(audio_url(mine.objects[UserSession], 0))
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    # Staff of the organization without the permission to view user sessions: 403.
    from django.contrib.auth import get_user_model

    no_permissions = get_user_model().objects.create_user("nina", is_staff=True)
    Membership.objects.create(user=no_permissions, organization=theirs.tenant.organization)
    assert logged_in(no_permissions).get(audio_url(theirs_session, 0)).status_code == 403


def test_a_missing_or_unplayable_clip_is_not_found(staff_client, mine):
    session = mine.objects[UserSession]
    assert staff_client.get(audio_url(session, 7)).status_code == 404
    AudioClip.objects.filter(session=session).update(base64="not base64 at all!")
    assert staff_client.get(audio_url(session, 0)).status_code == 404
    AudioClip.objects.filter(session=session).update(base64="")
    assert staff_client.get(audio_url(session, 0)).status_code == 404
    assert staff_client.get(audio_url(session, 0).replace(str(session.pk), "999999")).status_code == 404


# --- chat sessions ----------------------------------------------------------------------------


def test_a_chat_sessions_page_shows_its_messages_as_a_conversation(admin_client_, mine):
    session = chat(mine.tenant.organization, at=AT, messages=[
        (Role.SYSTEM, "You build workflows."), (Role.USER, HOSTILE), (Role.ASSISTANT, "Sure.\nTwo lines."),
        (Role.TOOL, '{"ok": true}'),
    ])
    ChatMessage.objects.filter(session=session, role=Role.ASSISTANT).update(
        tokens_used=42, image_urls=["https://example.com/a.png", "javascript:alert(1)"]
    )
    html = pane(admin_client_.get(admin_url(ChatSession, "change", session.pk)), "fd-conversation")
    assert re.findall(r'data-role="(\w+)"', html) == ["system", "user", "assistant", "tool"]
    assert re.findall(r'<div class="fd-turn fd-(\w+)', html) == ["system", "user", "tutor", "system"]
    assert f'<div class="fd-bubble">{HOSTILE_HTML}</div>' in html and "<script>alert" not in html
    assert "Sure.\nTwo lines." in html and "42 tokens" in html
    assert '<a href="https://example.com/a.png" rel="noopener noreferrer" target="_blank">' in html
    assert "<span>javascript:alert(1)</span>" in html and 'href="javascript' not in html
    assert "4 messages, oldest first." in html


def test_a_long_chat_shows_its_latest_messages(admin_client_, mine, monkeypatch):
    from chat import conversation

    monkeypatch.setattr(conversation, "CONVERSATION_SHOWN", 2)
    session = chat(mine.tenant.organization, at=AT, messages=[(Role.USER, f"q{n}") for n in range(4)])
    html = pane(admin_client_.get(admin_url(ChatSession, "change", session.pk)), "fd-conversation")
    assert re.findall(r'<div class="fd-bubble">(q\d)</div>', html) == ["q2", "q3"]
    assert "The latest 2 of 4 messages" in html


# --- live flow sessions -----------------------------------------------------------------------


def run(session, step, status, seconds, at, **fields):
    return LiveFlowSessionStep.objects.create(
        session=session, flow_version=session.flow_version, step=step, status=status, created_at=at,
        updated_at=at + timedelta(seconds=seconds), **fields,
    )


def branching_session(organization):
    """start → classify → technical_reply (answered) → classify → billing_reply (failed)."""
    version, steps = branching_version(organization)
    live_flow = make_live_flow(organization, version=version)
    session = LiveFlowSession.objects.create(
        live_flow=live_flow, flow_version=version, status=SessionStatus.FAILED, error="The model <timed out>",
        created_at=AT, updated_at=AT,
    )
    runs = [
        run(session, steps["start"], SessionStatus.FINISHED, 0.004, AT),
        run(session, steps["classify"], SessionStatus.FINISHED, 1.25, AT + timedelta(seconds=1),
            prompt={"type": "chat", "messages": [{"role": "user", "content": HOSTILE}]}, result="technical"),
        run(session, steps["technical_reply"], SessionStatus.FINISHED, 125, AT + timedelta(seconds=3),
            prompt={"type": "text", "text": "Which version?"}, user_input="2.4.1 <beta>"),
        run(session, steps["classify"], SessionStatus.FINISHED, 0.5, AT + timedelta(seconds=130), result="billing"),
        run(session, steps["billing_reply"], SessionStatus.FAILED, 30, AT + timedelta(seconds=131),
            prompt={"type": "text", "text": "Billing"}, error="upstream 503 <html>"),
    ]
    session.current_step = runs[-1]
    session.save(update_fields=["current_step"])
    return session, steps


def test_a_live_flow_sessions_page_shows_its_steps_as_a_timeline_on_its_graph(admin_client_, mine):
    session, steps = branching_session(mine.tenant.organization)
    html = pane(admin_client_.get(admin_url(LiveFlowSession, "change", session.pk)), "fd-timeline")

    heads = re.findall(r"<strong>(\d+\. \w+)</strong>", html)
    assert heads == ["1. start", "2. classify", "3. technical_reply", "4. classify", "5. billing_reply"]
    statuses = re.findall(r'<li class="fd-status-(\w+)"', html)
    assert statuses == ["FINISHED", "FINISHED", "FINISHED", "FINISHED", "FAILED"]
    durations = re.findall(r"· took ([\w. ]+)", html)
    assert durations == ["4 ms", "1.2 s", "2 min 5 s", "500 ms", "30.0 s"]
    assert f"<b>user:</b> {HOSTILE_HTML}" in html and "<script>alert" not in html
    assert "<dt>prompt</dt><dd>Which version?</dd>" in html
    assert "<dt>user input</dt><dd>2.4.1 &lt;beta&gt;</dd>" in html
    assert "<dt>result</dt><dd>technical</dd>" in html
    assert '<dt>error</dt><dd class="fd-error-text">upstream 503 &lt;html&gt;</dd>' in html
    assert "The model &lt;timed out&gt;" in html

    # The graph: the path's steps numbered in order, the taken transitions marked, the failed step red.
    graph = html[html.index("<svg"):html.index("</svg>")]
    visits = dict(re.findall(r'data-step-id="([0-9a-f-]+)" data-visits="([\d,]+)"', graph))
    assert visits == {
        str(steps["start"].pk): "1", str(steps["classify"].pk): "2,4", str(steps["technical_reply"].pk): "3",
        str(steps["billing_reply"].pk): "5",
    }
    assert f'<g class="step step-llm visited failed" data-step-id="{steps["billing_reply"].pk}"' in graph
    # All four transitions were taken: start→classify, classify→technical, technical→classify (retry), classify→billing.
    assert graph.count('<g class="transition taken">') == 4 and '<g class="transition">' not in graph


def test_a_timeline_fades_the_steps_not_taken(admin_client_, mine):
    version, steps = branching_version(mine.tenant.organization)
    session = LiveFlowSession.objects.create(
        live_flow=make_live_flow(mine.tenant.organization, version=version), flow_version=version,
        status=SessionStatus.RUNNING,
    )
    run(session, steps["start"], SessionStatus.FINISHED, 0, AT)
    run(session, steps["classify"], SessionStatus.RUNNING, 0, AT + timedelta(seconds=1))
    html = pane(admin_client_.get(admin_url(LiveFlowSession, "change", session.pk)), "fd-timeline")
    graph = html[html.index("<svg"):html.index("</svg>")]
    assert graph.count('<g class="transition taken">') == 1 and graph.count('<g class="transition">') == 3
    assert graph.count('class="step step-llm unvisited"') == 1 and graph.count("unvisited") == 2
    # A running step has no duration yet.
    assert re.findall(r"· took ([\w. ]+)", html) == ["0 ms"]


def test_the_flow_versions_own_graph_is_drawn_as_before(admin_client_, mine):
    version, _ = branching_version(mine.tenant.organization)
    html = admin_client_.get(admin_url(type(version), "change", version.pk)).content.decode()
    assert "visited" not in html and "arrow-taken" not in html and html.count('<g class="transition">') == 4


# --- scoping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [UserSession, ChatSession, LiveFlowSession], ids=lambda m: m.__name__)
def test_staff_read_their_organizations_conversations_only(staff_client, mine, theirs, model):
    own = staff_client.get(admin_url(model, "change", mine.objects[model].pk))
    assert own.status_code == 200 and b'class="fd-pane' in own.content
    other = staff_client.get(admin_url(model, "change", theirs.objects[model].pk))
    # The admin's answer for an object that does not exist: back to the index.
    assert other.status_code == 302 and other.url == "/admin/"


# --- query counts -----------------------------------------------------------------------------


def grow_user_session(session, n):
    dialogue(session, [
        item(p, "group_log", [nested(1, "log", "x"), nested(2, "group_log", [nested(3, "info", "y")])])
        if p % 3 == 0 else item(p, "user" if p % 2 else "ai", f"turn {p}", is_user=bool(p % 2))
        for p in range(n)
    ])
    AudioClip.objects.bulk_create(AudioClip(session=session, position=p, clip_id=f"c{p}", base64="UklGRg==") for p in range(n))


def grow_chat(session, n):
    from chat.services import post_message

    for index in range(n):
        post_message(session.organization, role=Role.USER if index % 2 else Role.ASSISTANT, content=f"m{index}",
                     session_id=session.session_id, created_at=AT + timedelta(minutes=index))


def grow_live_session(session, n):
    steps = list(session.flow_version.steps.order_by("created_at"))
    LiveFlowSessionStep.objects.bulk_create(
        LiveFlowSessionStep(session=session, flow_version=session.flow_version, step=steps[i % len(steps)],
                            status=SessionStatus.FINISHED, prompt={"type": "text", "text": f"p{i}"}, result=f"r{i}",
                            created_at=AT + timedelta(seconds=i), updated_at=AT + timedelta(seconds=i + 1))
        for i in range(n)
    )


def new_conversation(model, world, index):
    org, user = world.tenant.organization, world.tenant.user
    if model is UserSession:
        return UserSession.objects.create(user=user, organization=org, session_id=f"count{index:07d}")
    if model is ChatSession:
        return ChatSession.objects.create(organization=org, context_type="session", session_id=f"session_1714554000000_c{index}")
    live_flow = world.objects[LiveFlowSession].live_flow
    return LiveFlowSession.objects.create(live_flow=live_flow, flow_version=live_flow.current_version, created_at=AT)


GROW = {UserSession: grow_user_session, ChatSession: grow_chat, LiveFlowSession: grow_live_session}

# Superuser, per page: 1 the login session, 2 the user, 3 the object, the admin's own reads
# (user session: its user, organization, the inline's dialogue items and clips; chat: the inline's
# messages; live flow session: the recorded-steps inline, its live flow, version and flow), 2 the
# audit trail's view event (the object's organization, the insert), then the pane's own: the
# transcript 2 (the latest items; the clips without their bytes), the conversation 1 (the latest
# messages), the timeline 3 (the recorded steps, the version's steps, its transitions).
EXPECTED = {UserSession: 11, ChatSession: 7, LiveFlowSession: 12}


@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_a_conversations_page_runs_a_fixed_number_of_queries(model, admin_client_, staff_client, mine):
    for client, extra in ((admin_client_, 0), (staff_client, 2)):  # staff: their user and group permissions
        client.get(admin_url(model, "change", mine.objects[model].pk))  # content types cached, as in a running server
        for index, rows in enumerate((2, 20)):
            obj = new_conversation(model, mine, index + (10 if extra else 0))
            GROW[model](obj, rows)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(admin_url(model, "change", obj.pk))
            assert response.status_code == 200
            html = response.content.decode()
            shown = {UserSession: 'class="fd-turn', ChatSession: 'class="fd-turn', LiveFlowSession: "fd-step-head"}
            turns = sum(1 for p in range(rows) if p % 3) if model is UserSession else rows  # group logs hold no turn
            assert html.count(shown[model]) == turns
            assert len(queries) == EXPECTED[model] + extra, (model, rows, [q["sql"] for q in queries])
