from django.utils import timezone

from accounts.management.commands.demo import DemoContext
from sessions_app import demo


def test_demo_sessions_are_listed_for_the_demo_user(tenant):
    demo.load(DemoContext(tenant.organization, tenant.workspace, tenant.user, timezone.now()))
    body = tenant.client.get("/session").json()
    assert [s["sessionId"] for s in body] == ["dEmOLoops001", "dEmOVoice002", "dEmOFresh003"]
    loops = body[0]
    assert [item["id"] for item in loops["dialogue"]] == [1, 2, 3, 4, 5, 6]
    assert loops["dialogue"][5]["ui"] == "selectTutorial"
    assert all("ui" not in item for item in loops["dialogue"][:5])
    assert loops["dialogue"][3]["content"][1]["content"] == "0\n1\n2\n3\n4"
    assert body[1]["audios"][0]["id"] == "clip-1"
    assert body[1]["clicks"] is None
    assert loops["userInfo"] == str(tenant.user.pk)
    # The demo data is valid API data: appending continues the numbering.
    reply = tenant.client.post("/session/dEmOLoops001/dialogue", {"contentType": "user", "content": "ok"}, format="json")
    assert reply.json()["id"] == 7
