"""The search index of what was said (flowdesk/search/ddl.py), kept by the database on every write.

The parts are frozen here as they were indexed; each family's search.py says the same.
"""

from django.db import migrations

from flowdesk.search.ddl import InstallTextIndex


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_stream_turns"),
        ("flows", "0004_session_revision"),
        ("messaging", "0002_message_flow_default_settings"),
        ("sessions_app", "0003_vendor_dialogue_ui_and_ids"),
    ]

    operations = [
        InstallTextIndex(name="chat", table="chat_chatmessage", pk="id", parts=[("text", "content")]),
        InstallTextIndex(name="dialogue", table="sessions_app_dialogueitem", pk="id", parts=[("dialogue", "content")]),
        InstallTextIndex(
            name="steps", table="flows_liveflowsessionstep", pk="id",
            parts=[("json", "prompt"), ("text", "result"), ("text", "user_input"), ("text", "error")],
        ),
        InstallTextIndex(
            name="message_flows", table="messaging_messageflow", pk="id",
            parts=[("text", "prompt"), ("text", "initiation_message"), ("text", "description")],
        ),
    ]
