"""The real admin in headless Chromium: log in, open a flow version and a session, take screenshots.

Screenshots go to test-output/admin/ at the repository root (git-ignored); their paths are printed.
Skipped when Chromium is not installed (`.ci/run` installs Debian's `chromium`).
"""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from flows.models import LiveFlowSession
from tests.admin.browser import Browser, find_chromium
from tests.admin.conftest import branching_version

OUTPUT = Path(settings.BASE_DIR) / "test-output" / "admin"


@pytest.fixture
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser test needs it")
    browser = Browser(executable)
    yield browser
    browser.close()


def log_in_as_root(browser, live_server):
    """A superuser, logged in through the real login form."""
    get_user_model().objects.create_superuser("root", "root@example.com", "a-long-pass-phrase")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    browser.go(f"{live_server.url}{reverse('admin:login')}?next=/admin/")
    browser.js(
        "document.querySelector('#id_username').value = 'root';"
        "document.querySelector('#id_password').value = 'a-long-pass-phrase';"
    )
    browser.submit("#login-form")
    assert browser.js("location.pathname") == "/admin/"


@pytest.mark.django_db(transaction=True)
def test_staff_browse_a_flow_version_and_a_session(browser, live_server, mine):
    version, _ = branching_version(mine.tenant.organization)
    session = mine.objects[LiveFlowSession]
    log_in_as_root(browser, live_server)
    assert "Site administration" in browser.js("document.body.innerText")

    browser.go(live_server.url + reverse("admin:flows_flowversion_change", args=[version.pk]))
    page = browser.js(
        """(() => ({
            steps: [...document.querySelectorAll('svg.flow-graph g.step')].map(g => g.textContent),
            start: [...document.querySelectorAll('svg.flow-graph g.step-start')].map(g => g.textContent),
            labels: [...document.querySelectorAll('svg.flow-graph g.transition')].map(g => g.textContent),
            arrows: document.querySelectorAll('svg.flow-graph g.transition path[marker-end]').length,
            svgWidth: document.querySelector('svg.flow-graph').getBoundingClientRect().width,
            stepNames: [...document.querySelectorAll('#steps-group tr.has_original input[name$="-name"]')].map(i => i.value),
            prompt: document.querySelector('#steps-group textarea[name="steps-1-prompt_template"]').value,
            transitions: [...document.querySelectorAll('#transitions-group tr.has_original')].map(tr => [
                tr.querySelector('select[name$="-source_step"]').selectedOptions[0].text,
                tr.querySelector('select[name$="-target_step"]').selectedOptions[0].text,
                tr.querySelector('input[name$="-label"]').value,
            ]),
            targetChoices: document.querySelectorAll('#transitions-group select[name="transitions-0-target_step"] option').length,
        }))()"""
    )
    shot = browser.screenshot(OUTPUT / "flow_version.png")
    print(f"\nscreenshot: {shot}")
    assert page["steps"] == ["startSTART", "classifyLLM", "billing_replyLLM", "technical_replyUSER_INPUT"]
    assert page["start"] == ["startSTART"]
    assert sorted(page["labels"]) == ["", "billing", "retry", "technical"]
    assert page["arrows"] == 4
    assert page["svgWidth"] > 100
    assert page["stepNames"] == ["start", "classify", "billing_reply", "technical_reply"]
    assert json.loads(page["prompt"]) == {"type": "chat", "messages": [{"role": "user", "content": "${INPUTS.message}"}]}
    assert "\n  " in page["prompt"]  # pretty-printed
    assert sorted(page["transitions"]) == sorted([
        ["start (START)", "classify (LLM)", ""],
        ["classify (LLM)", "billing_reply (LLM)", "billing"],
        ["classify (LLM)", "technical_reply (USER_INPUT)", "technical"],
        ["technical_reply (USER_INPUT)", "classify (LLM)", "retry"],
    ])
    assert page["targetChoices"] == 5  # the version's four steps and the empty choice: no other version's

    browser.go(live_server.url + reverse("admin:flows_liveflowsession_change", args=[session.pk]))
    page = browser.js(
        """(() => ({
            recorded: document.querySelectorAll('#steps-group tbody tr.has_original').length,
            inputs: document.querySelector('textarea[name="inputs"]').value,
        }))()"""
    )
    shot = browser.screenshot(OUTPUT / "live_flow_session.png")
    print(f"screenshot: {shot}")
    assert page["recorded"] == 2
    assert json.loads(page["inputs"]) == {"q": "hi"}


@pytest.mark.django_db(transaction=True)
def test_staff_search_read_conversations_and_see_insights(browser, live_server, mine):
    from chat.models import ChatSession
    from sessions_app.models import UserSession

    log_in_as_root(browser, live_server)
    shots = []

    def visit(url, name, script):
        browser.go(live_server.url + url)
        found = browser.js(script)
        shots.append(browser.screenshot(OUTPUT / f"{name}.png"))
        return found

    hits = visit("/admin/search/?q=loops", "search",
                 "[...document.querySelectorAll('tr.hit')].map(tr => [tr.className, tr.querySelector('.snippet').innerHTML])")
    assert [cls for cls, _ in hits] == ["hit hit-dialogue"]
    assert "<mark>" in hits[0][1].lower() and "loops" in hits[0][1].lower()

    user_session = mine.objects[UserSession]
    transcript = visit(
        reverse("admin:sessions_app_usersession_change", args=[user_session.pk]), "transcript",
        "(() => { const pane = document.querySelector('.fd-transcript');"
        " return {text: pane.innerText, audio: pane.querySelectorAll('audio').length}; })()",
    )
    assert "How do loops work?" in transcript["text"] and "Like this." in transcript["text"]

    chat_session = mine.objects[ChatSession]
    conversation = visit(reverse("admin:chat_chatsession_change", args=[chat_session.pk]), "conversation",
                         "document.querySelector('.fd-conversation').innerText")
    assert "Hello from org_u13TesTDumMyEe5P" in conversation

    session = mine.objects[LiveFlowSession]
    timeline = visit(
        reverse("admin:flows_liveflowsession_change", args=[session.pk]), "timeline",
        "(() => ({visited: document.querySelectorAll('.fd-timeline svg g.step.visited').length,"
        " taken: document.querySelectorAll('.fd-timeline svg g.transition.taken').length}))()",
    )
    assert timeline == {"visited": 2, "taken": 1}

    insights = visit(
        f"{reverse('flowdesk-insights')}?org={mine.tenant.organization.pk}&from=2024-04-25&to=2024-05-05", "insights",
        "(() => ({charts: document.querySelectorAll('svg.fd-chart').length,"
        " bars: document.querySelectorAll('#insight-live-flow-sessions rect.bar').length}))()",
    )
    assert insights == {"charts": 6, "bars": 1}
    print("\nscreenshots:", *shots, sep="\n  ")
