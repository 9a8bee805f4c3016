"""Search what was said: the changelists' search boxes and /admin/search/, on both databases."""

import copy
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import ChatMessage, ChatSession, Role
from flows.models import LiveFlowSession, LiveFlowSessionStep
from messaging.models import MessageFlow
from sessions_app.models import DialogueItem, UserSession
from tests.admin.conftest import later
from tests.admin.helpers import admin_url, page_form_data
from tests.flows.engine_helpers import make_triage_flow

pytestmark = pytest.mark.django_db

SEARCH = "/admin/search/"
JAPANESE = "昨日から請求書の金額が間違っているようなので確認してください"
NESTED = [
    {"id": 5, "contentType": "group_log", "isUser": False, "content": [
        {"id": 6, "contentType": "log", "isUser": False, "content": "Running main.py", "ui": None},
        {"id": 7, "contentType": "error", "isUser": False, "content": "NameError: name 'zorblax' is not defined", "ui": None},
    ], "ui": None},
]


def say(world, tag):
    """One text per family in ``world``, each with the word ``tag`` inside it; returns the conversations."""
    o = world.objects
    chat_session = o[ChatSession]
    ChatMessage.objects.create(session=chat_session, role=Role.USER, content=f"My {tag}invoice is wrong", created_at=later(5))
    user_session = o[UserSession]
    DialogueItem.objects.create(
        session=user_session, position=5, item_id=9, content_type="user", is_user=True, content=f"Please explain {tag}loops"
    )
    step = o[LiveFlowSession].steps.order_by("created_at").first()
    step.result = f"The answer mentions {tag}refunds"
    step.save()
    flow = o[MessageFlow]
    flow.prompt = f"Greet the customer, then talk about {tag}pricing"
    flow.save()
    return {ChatSession: chat_session, UserSession: user_session, LiveFlowSession: o[LiveFlowSession], MessageFlow: flow}


def listed(client, model, q):
    response = client.get(admin_url(model, "changelist"), {"q": q})
    assert response.status_code == 200
    return [obj.pk for obj in response.context["cl"].result_list]


CONVERSATIONS = [ChatSession, UserSession, LiveFlowSession, MessageFlow]
WORDS = {ChatSession: "invoice", UserSession: "loops", LiveFlowSession: "refunds", MessageFlow: "pricing"}


@pytest.mark.parametrize("model", CONVERSATIONS, ids=lambda m: m.__name__)
def test_each_changelist_finds_a_conversation_by_what_was_said_in_it(model, admin_client_, mine, theirs):
    ours, others = say(mine, "alpha"), say(theirs, "omega")
    word = WORDS[model]
    # A whole word, a word's start, a substring inside a word, any case: only the conversation that said it.
    assert listed(admin_client_, model, f"alpha{word}") == [ours[model].pk]
    assert listed(admin_client_, model, f"ALPHA{word[:2]}") == [ours[model].pk]
    assert listed(admin_client_, model, f"pha{word}") == [ours[model].pk]
    assert listed(admin_client_, model, f"omega{word}") == [others[model].pk]
    # Both organizations' (the superuser sees every one), each once.
    assert sorted(map(str, listed(admin_client_, model, word))) == sorted(map(str, [ours[model].pk, others[model].pk]))
    # Every word must be there.
    assert listed(admin_client_, model, f"alpha{word} omega{word}") == []
    assert listed(admin_client_, model, "nowhere-said-xyzzy") == []


@pytest.mark.parametrize("model", CONVERSATIONS, ids=lambda m: m.__name__)
def test_a_staff_member_never_finds_another_organizations_text(model, staff_client, mine, theirs):
    ours = say(mine, "alpha")
    say(theirs, "omega")
    word = WORDS[model]
    assert listed(staff_client, model, f"alpha{word}") == [ours[model].pk]
    assert listed(staff_client, model, f"omega{word}") == []
    assert listed(staff_client, model, word) == [ours[model].pk]
    assert staff_client.get(SEARCH, {"q": f"omega{word}"}).context["hits"] == []
    hits = staff_client.get(SEARCH, {"q": word}).context["hits"]
    # (a user session's dialogue says "loops" twice: a hit per item, each a link to its session)
    assert {hit["url"] for hit in hits} == {admin_url(model, "change", ours[model].pk)}
    assert {hit["organization"] for hit in hits} == {mine.tenant.organization}


def test_a_word_too_short_for_trigrams_is_found_as_a_word_s_start(admin_client_, mine, theirs):
    ours = say(mine, "alpha")[ChatSession]  # "My alphainvoice is wrong"
    others = say(theirs, "omega")[ChatSession]
    assert listed(admin_client_, ChatSession, "alphainvoice WR") == [ours.pk]
    assert listed(admin_client_, ChatSession, "alphainvoice is") == [ours.pk]
    assert listed(admin_client_, ChatSession, "alphainvoice qz") == []
    # Short words alone: each chat once.
    assert sorted(listed(admin_client_, ChatSession, "my is")) == sorted([ours.pk, others.pk])


def test_ids_still_find_their_conversation(admin_client_, mine, theirs):
    chat_session = mine.objects[ChatSession]
    assert listed(admin_client_, ChatSession, chat_session.session_id) == [chat_session.pk]
    user_session = mine.objects[UserSession]
    assert listed(admin_client_, UserSession, user_session.session_id) == [user_session.pk]
    live = mine.objects[LiveFlowSession]
    assert listed(admin_client_, LiveFlowSession, str(live.pk)) == [live.pk]
    # A session id is exact: its start alone is not an id (nor a word said anywhere).
    assert listed(admin_client_, UserSession, user_session.session_id[:-1] + "#") == []


def test_japanese_text_without_spaces_is_found_by_a_phrase_inside_it(admin_client_, mine, theirs):
    DialogueItem.objects.create(
        session=mine.objects[UserSession], position=7, item_id=10, content_type="user", is_user=True, content=JAPANESE
    )
    ChatMessage.objects.create(session=theirs.objects[ChatSession], role=Role.USER, content=f"件名: {JAPANESE}")
    assert listed(admin_client_, UserSession, "金額が間違っている") == [mine.objects[UserSession].pk]
    assert listed(admin_client_, ChatSession, "金額が間違っている") == [theirs.objects[ChatSession].pk]
    assert listed(admin_client_, UserSession, "金額は正しい") == []
    hits = admin_client_.get(SEARCH, {"q": "間違っている"}).context["hits"]
    assert sorted(hit["source"] for hit in hits) == ["chat", "dialogue"]
    assert "<mark>間違っている</mark>" in str(hits[0]["snippet"])


def test_a_japanese_phrase_inside_a_longer_sentence_is_found(admin_client_, mine, theirs):
    """東京タワー inside a sentence without spaces: found in each family, snippet marked, on both databases."""
    sentence = "昨日は東京タワーの展望台で財布をなくしました"
    say(mine, "alpha")
    ChatMessage.objects.create(session=mine.objects[ChatSession], role=Role.USER, content=sentence)
    DialogueItem.objects.create(session=mine.objects[UserSession], position=9, item_id=11, content_type="user",
                                is_user=True, content=[{"id": 12, "contentType": "user", "isUser": True,
                                                        "content": sentence, "ui": None}])
    step = mine.objects[LiveFlowSession].steps.order_by("created_at").first()
    step.user_input = sentence
    step.save()
    MessageFlow.objects.filter(pk=mine.objects[MessageFlow].pk).update(description=sentence)
    for model in CONVERSATIONS:
        assert listed(admin_client_, model, "東京タワー") == [mine.objects[model].pk], model
        assert listed(admin_client_, model, "大阪タワー") == []
    hits = admin_client_.get(SEARCH, {"q": "東京タワー"}).context["hits"]
    assert sorted(hit["source"] for hit in hits) == ["chat", "dialogue", "message_flows", "steps"]
    for hit in hits:
        assert "昨日は<mark>東京タワー</mark>の展望台で" in str(hit["snippet"])
    # Two words, each inside the text: both must be there.
    assert listed(admin_client_, ChatSession, "東京タワー 財布") == [mine.objects[ChatSession].pk]
    assert listed(admin_client_, ChatSession, "東京タワー 鍵を") == []


def test_nested_dialogue_content_is_searched(admin_client_, mine):
    DialogueItem.objects.create(
        session=mine.objects[UserSession], position=8, item_id=5, content_type="group_log", is_user=False, content=NESTED
    )
    assert listed(admin_client_, UserSession, "zorblax") == [mine.objects[UserSession].pk]
    # Keys and kinds are not what was said.
    assert listed(admin_client_, UserSession, "contentType") == []


def test_the_search_page_lists_hits_of_every_family_with_organization_time_and_link(admin_client_, mine, theirs):
    say(mine, "alpha")
    say(theirs, "omega")
    response = admin_client_.get(SEARCH, {"q": "alpha"})
    assert response.status_code == 200
    hits = response.context["hits"]
    assert sorted(hit["source"] for hit in hits) == ["chat", "dialogue", "message_flows", "steps"]
    assert {hit["organization"].pk for hit in hits} == {mine.tenant.organization.pk}
    assert [hit["time"] for hit in hits] == sorted((hit["time"] for hit in hits), reverse=True)
    by_source = {hit["source"]: hit for hit in hits}
    assert by_source["chat"]["url"] == admin_url(ChatSession, "change", mine.objects[ChatSession].pk)
    assert by_source["dialogue"]["url"] == admin_url(UserSession, "change", mine.objects[UserSession].pk)
    assert by_source["steps"]["url"] == admin_url(LiveFlowSession, "change", mine.objects[LiveFlowSession].pk)
    assert by_source["message_flows"]["url"] == admin_url(MessageFlow, "change", mine.objects[MessageFlow].pk)
    assert str(by_source["chat"]["snippet"]) == "My <mark>alpha</mark>invoice is wrong"
    assert by_source["dialogue"]["time"] == mine.objects[UserSession].updated_at
    page = response.content.decode()
    assert f'href="{by_source["chat"]["url"]}"' in page
    assert mine.tenant.organization.name in page and theirs.tenant.organization.name not in page
    assert reverse("flowdesk_search") == SEARCH


def test_html_in_what_was_said_is_escaped_in_the_snippet(admin_client_, mine):
    ChatMessage.objects.create(
        session=mine.objects[ChatSession], role=Role.USER, content='<script>alert("x")</script> <b>quuxword</b> & more'
    )
    response = admin_client_.get(SEARCH, {"q": "quuxword"})
    (hit,) = response.context["hits"]
    assert str(hit["snippet"]) == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;b&gt;<mark>quuxword</mark>&lt;/b&gt; &amp; more"
    )
    assert "<script>alert" not in response.content.decode()
    # The term itself is escaped too, wherever the page shows it.
    response = admin_client_.get(SEARCH, {"q": "<img src=x>"})
    assert "<img src=x>" not in response.content.decode()


def test_the_search_page_is_paged_and_runs_a_fixed_number_of_queries(admin_client_, staff_client, mine):
    session = mine.objects[ChatSession]

    def queries(client, q, page=1):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(SEARCH, {"q": q, "page": page})
        assert response.status_code == 200
        return len(captured), response.context

    baseline = {client: queries(client, "pagingword")[0] for client in (admin_client_, staff_client)}
    ChatMessage.objects.bulk_create(
        ChatMessage(session=session, role=Role.USER, content=f"pagingword number {n}", created_at=later(100 + n))
        for n in range(45)
    )
    DialogueItem.objects.bulk_create(
        DialogueItem(session=mine.objects[UserSession], position=10 + n, item_id=20 + n, content_type="user", is_user=True,
                     content=f"pagingword dialogue {n}")
        for n in range(5)
    )
    for client in (admin_client_, staff_client):
        count, context = queries(client, "pagingword")
        # 1 the login session, 2 the user (staff: 3-4 their permissions), then one query per family.
        assert count == baseline[client] == (6 if client is admin_client_ else 8)
        assert len(context["hits"]) == 20 and context["next_page"] == 2
        first = [hit["time"] for hit in context["hits"]]
        count, context = queries(client, "pagingword", 3)
        assert count == baseline[client]
        assert len(context["hits"]) == 10 and context["next_page"] is None and context["previous_page"] == 2
        assert max(hit["time"] for hit in context["hits"]) < min(first)


@pytest.mark.parametrize("params", [{"q": "x" * 201}, {"q": "word", "page": "two"}, {"q": "word", "page": "0"},
                                    {"q": "a b c d e f g h i"}, {"q": "nul\x00"}])
def test_bad_searches_get_a_400_with_the_reason(admin_client_, params):
    response = admin_client_.get(SEARCH, params)
    assert response.status_code == 400
    assert response.context["error"]


def test_the_search_page_needs_a_staff_login(client, mine):
    response = client.get(SEARCH, {"q": "hello"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- kept in step on every write path ---------------------------------------------------------


def test_an_import_is_searchable_at_once(tmp_path, admin_client_, mine):
    """import_chat_sessions and import_user_sessions (COPY on PostgreSQL), then a re-import that changes the text."""
    org = mine.tenant.organization.pk
    message_id = str(uuid.uuid4())
    chats = {"code": 200, "data": {"hasMore": False, "items": [{
        "sessionId": "session_1714554000000_imprt1", "contextType": "session", "workflowId": None, "workflowName": None,
        "messageCount": 1, "firstMessageAt": "2024-05-01T09:00:00Z", "lastMessageAt": "2024-05-01T09:00:00Z",
        "preview": "importedword here", "createdAt": "2024-05-01T09:00:00Z",
        "messages": [{"id": message_id, "content": "importedword here 請求書の再発行", "role": "user",
                      "sessionId": "session_1714554000000_imprt1", "workflowId": None, "organizationId": org,
                      "tokensUsed": None, "imageUrls": [], "createdAt": "2024-05-01T09:00:00Z"}],
    }], "limit": 1, "offset": 0}, "message": "success", "requestId": "r"}
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(chats))
    call_command("import_chat_sessions", str(path), "--org", org, "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    imported = ChatSession.objects.get(session_id="session_1714554000000_imprt1")
    assert listed(admin_client_, ChatSession, "importedword") == [imported.pk]
    assert listed(admin_client_, ChatSession, "請求書の再") == [imported.pk]

    from tests.sessions_app.conftest import FIXTURE, fixture_records
    records = fixture_records()
    call_command("import_user_sessions", str(FIXTURE), "--user", mine.tenant.user.username, "--no-progress",
                 stdout=io.StringIO(), stderr=io.StringIO())
    first = UserSession.objects.get(session_id=records[0]["sessionId"])
    # "prnt" is two levels down, in a group log's error.
    assert listed(admin_client_, UserSession, "prnt") == [first.pk]
    changed = copy.deepcopy(records)
    changed[0]["dialogue"][0]["content"] = "Reimportedword instead"
    (nested,) = [item for item in changed[0]["dialogue"] if "prnt" in json.dumps(item)]
    nested["content"] = []
    path = tmp_path / "sessions.json"
    path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    call_command("import_user_sessions", str(path), "--user", mine.tenant.user.username, "--no-progress",
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert listed(admin_client_, UserSession, "reimportedword") == [first.pk]
    assert listed(admin_client_, UserSession, "prnt") == []


def test_live_flow_session_and_message_flow_imports_are_searchable_at_once(tmp_path, admin_client_, mine):
    """import_live_flow_sessions and import_message_flows (their COPY fast paths on PostgreSQL), then re-imports."""
    from tests.flows.test_import import FIXTURE as SESSIONS
    from tests.flows.test_import import LIVE_FLOW_ID
    from tests.messaging.test_import import DOCUMENTED

    org = mine.tenant.organization.pk
    (record,) = json.loads(SESSIONS.read_text())
    for recorded in (record["steps"][0], record["current_step"]):
        recorded.update(prompt={"type": "text", "text": "promptwordly"}, result="resultwordly", user_input="東京タワーへ行く",
                        error="errorwordly")
    path = tmp_path / "sessions.json"
    path.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("import_live_flow_sessions", str(path), org=org, live_flow=LIVE_FLOW_ID, **quiet)
    imported = uuid.UUID(record["id"])
    for word in ("promptwordly", "resultwordly", "東京タワー", "errorwordly"):
        assert listed(admin_client_, LiveFlowSession, word) == [imported], word
    for recorded in (record["steps"][0], record["current_step"]):
        recorded["result"] = "changedwordly"
    path.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    call_command("import_live_flow_sessions", str(path), org=org, live_flow=LIVE_FLOW_ID, **quiet)
    assert listed(admin_client_, LiveFlowSession, "changedwordly") == [imported]
    assert listed(admin_client_, LiveFlowSession, "resultwordly") == []

    flows = copy.deepcopy(DOCUMENTED)
    flows[0]["prompt"] = "firstflowword prompt"
    path = tmp_path / "flows.json"
    path.write_text(json.dumps(flows))
    call_command("import_message_flows", str(path), "--org", org, "--no-progress", **quiet)
    assert listed(admin_client_, MessageFlow, "firstflowword") == [flows[0]["_id"]]
    assert listed(admin_client_, MessageFlow, "follow-up leads") == [flows[1]["_id"]]  # its description and prompt
    flows[0]["prompt"] = "secondflowword prompt"
    flows[0]["updatedAt"] = "2025-02-01T00:00:00Z"
    path.write_text(json.dumps(flows))
    call_command("import_message_flows", str(path), "--org", org, "--no-progress", **quiet)
    assert listed(admin_client_, MessageFlow, "secondflowword") == [flows[0]["_id"]]
    assert listed(admin_client_, MessageFlow, "firstflowword") == []


def test_api_edits_are_searchable_at_once(admin_client_, mine):
    client, user_session, flow = mine.tenant.client, mine.objects[UserSession], mine.objects[MessageFlow]
    # PUT /session/{id} replaces the dialogue; POST .../dialogue appends to it.
    dialogue = [{"id": 1, "contentType": "user", "isUser": True, "content": "putword first"}]
    assert client.put(f"/session/{user_session.session_id}", {"dialogue": dialogue}, format="json").status_code == 200
    assert listed(admin_client_, UserSession, "putword") == [user_session.pk]
    assert listed(admin_client_, UserSession, "loops") == []  # the dialogue it replaced
    response = client.post(f"/session/{user_session.session_id}/dialogue", {"contentType": "user", "content": "appendedword"},
                           format="json")
    assert response.status_code == 201
    assert listed(admin_client_, UserSession, "appendedword") == [user_session.pk]
    # PATCH a message flow's prompt.
    response = client.patch(f"/v1/api/message-flows/{flow.pk}", {"prompt": "patchedword prompt"}, format="json",
                            HTTP_X_WORKSPACE_ID=mine.tenant.workspace.pk)
    assert response.status_code == 200, response.content
    assert listed(admin_client_, MessageFlow, "patchedword") == [flow.pk]
    assert listed(admin_client_, MessageFlow, "nice") == []
    # A chat message posted through the API.
    response = client.post("/v1/ai/workflow/chat/messages", {
        "sessionId": mine.objects[ChatSession].session_id, "role": "user", "content": "postedword please",
    }, format="json")
    assert response.status_code in (200, 201), response.content
    assert listed(admin_client_, ChatSession, "postedword") == [mine.objects[ChatSession].pk]


def test_admin_edits_are_searchable_at_once(admin_client_, mine):
    message = mine.objects[ChatSession].messages.order_by("created_at").first()
    url = admin_url(ChatMessage, "change", message.pk)
    data = page_form_data(admin_client_.get(url))
    data["content"] = "editedword by staff"
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert listed(admin_client_, ChatSession, "editedword") == [mine.objects[ChatSession].pk]
    assert listed(admin_client_, ChatMessage, "editedword") == [message.pk]
    # Deleted: gone from the index.
    message.delete()
    assert listed(admin_client_, ChatSession, "editedword") == []


@pytest.fixture
def engine(settings):
    settings.LIVE_FLOW_RUNNER = "eager"
    settings.LIVE_FLOW_LLM_BACKEND = "offline"  # answers "(offline model) Answer to: <prompt>"


def test_the_engine_s_steps_are_searchable(admin_client_, mine, theirs, engine, django_capture_on_commit_callbacks):
    """The engine writes the rendered prompt, the model's answer, the user's input and an error: each found."""
    live_flow, _ = make_triage_flow(mine.tenant.organization)
    sessions = f"/live_flows/{live_flow.pk}/sessions"
    with django_capture_on_commit_callbacks(execute=True):
        response = mine.tenant.client.post(f"{sessions}/", {"inputs": {"message": "technical enginewordly trouble"}},
                                           format="json")
    assert response.status_code == 200, response.content
    session_id = response.json()["id"]
    # The classifier's rendered prompt, and the offline model's answer to the billing/technical prompt.
    assert listed(admin_client_, LiveFlowSession, "enginewordly") == [uuid.UUID(session_id)]
    assert listed(admin_client_, LiveFlowSessionStep, "enginewordly") != []
    with django_capture_on_commit_callbacks(execute=True):
        response = mine.tenant.client.post(f"{sessions}/{session_id}/user_input", {"user_input": "version inputwordly"},
                                           format="json")
    assert response.status_code == 200, response.content
    assert listed(admin_client_, LiveFlowSession, "inputwordly") == [uuid.UUID(session_id)]
    # "(offline model) Answer to: Problem: ..." – the last step's result.
    assert listed(admin_client_, LiveFlowSession, "offline model answer suggest") == [uuid.UUID(session_id)]
    # A step that fails records its error.
    with django_capture_on_commit_callbacks(execute=True):
        response = mine.tenant.client.post(f"{sessions}/", {"inputs": {}}, format="json")
    failed = response.json()["id"]
    assert LiveFlowSessionStep.objects.filter(session_id=failed).exclude(error=None).exists()
    assert listed(admin_client_, LiveFlowSession, "inputs have no") == [uuid.UUID(failed)]
    assert listed(admin_client_, LiveFlowSession, "enginewordly inputs") == []


@pytest.mark.django_db(transaction=True)
def test_the_chat_stream_s_turns_are_searchable(admin_client_, mine, settings):
    """POST .../chat/stream stores the user's message and the streamed answer: both found at once."""
    settings.LIVE_FLOW_RUNNER = "eager"
    chat_session = mine.objects[ChatSession]
    response = mine.tenant.client.post("/v1/ai/workflow/chat/stream",
                                       {"sessionId": chat_session.session_id, "message": "streamedword question"},
                                       format="json", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    b"".join(response.streaming_content)  # the test client is WSGI: the stored turn, then the end
    assert listed(admin_client_, ChatSession, "streamedword") == [chat_session.pk]
    answers = listed(admin_client_, ChatMessage, "offline streamedword")
    assert [ChatMessage.objects.get(pk=pk).role for pk in answers] == ["assistant"]

