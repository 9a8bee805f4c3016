"""Demo data for the message-flows family: three flows of the demo workspace, two agents.

Their settings are what the API would have stored: the vendor's defaults under what each gives.
"""

from datetime import timedelta

from messaging.api.serializers import merge_settings
from messaging.models import DEFAULT_SETTINGS, Agent, Direction, MessageChannel, MessageFlow

# Agent id -> its age in days.
AGENTS = {"agent_support_sms": 21, "agent_sales_email": 14}

# Oldest first; each flow's id ends in its number (…8f01, …8f02, …), its settings are the ones it gives.
FLOWS = [
    dict(
        agent="agent_support_sms", name="SMS support line", direction=Direction.BIDIRECTIONAL,
        message_channel=MessageChannel.SMS, is_active=True, autopilot=True, age_days=20,
        settings={
            "responseSettings": {
                "delay": 5,
                "workingHours": {
                    "enabled": True, "start": "08:00", "end": "20:00", "timezone": "Europe/London",
                    "outOfHoursMessage": "We're closed for the night; a person will answer from 8am.",
                },
                "maxLength": 320,
            },
            "security": {"blockedKeywords": ["password", "card number"]},
        },
        description="Answers customer questions by text message and hands over to a human on request.",
        prompt="You are Acme's support assistant. Answer briefly; offer a human agent when unsure.",
        initiation_message="Hi, this is Acme support. How can we help?",
    ),
    dict(
        agent="agent_sales_email", name="Email lead follow-up", direction=Direction.OUTBOUND,
        message_channel=MessageChannel.EMAIL, is_active=True, autopilot=False, age_days=13,
        settings={
            "responseSettings": {"tone": "friendly"},
            "emailSettings": {"subjectLine": "Your Acme plan", "signature": "The Acme team", "replyTo": "sales@example.com"},
        },
        description="Follows up on leads from the pricing page two days after sign-up.",
        prompt="You are an email follow-up AI. Be concise and end with one clear question.",
        initiation_message="Thanks for looking at Acme's plans: can I answer anything about pricing?",
    ),
    dict(
        agent="agent_support_sms", name="Appointment reminders (paused)", direction=Direction.OUTBOUND,
        message_channel=MessageChannel.SMS, is_active=False, autopilot=False, age_days=6,
        settings={},
        description="Reminds customers of booked installation slots the day before.",
        prompt="Remind the customer of their appointment and let them confirm or reschedule.",
        initiation_message="Reminder: your Acme installation is booked for tomorrow. Reply YES to confirm.",
    ),
]


def load(ctx):
    now = ctx.now
    agents = {
        agent_id: Agent.objects.create(workspace=ctx.workspace, agent_id=agent_id, created_at=now - timedelta(days=days))
        for agent_id, days in AGENTS.items()
    }
    for number, flow in enumerate(FLOWS, start=1):
        values = dict(flow)
        created = now - timedelta(days=values.pop("age_days"))
        MessageFlow.objects.create(
            id=f"65f1c0a4e2b7d93a1c4e8f{number:02d}",
            workspace=ctx.workspace,
            agent=agents[values.pop("agent")],
            settings=merge_settings(DEFAULT_SETTINGS, values.pop("settings")),
            created_at=created,
            updated_at=created + timedelta(hours=2),
            version=1,
            **values,
        )
