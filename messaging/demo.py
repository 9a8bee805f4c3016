"""Demo data for the message-flows family: three flows of the demo workspace, two agents.

Their settings are what the API would have stored: the vendor's defaults under what each gives.
"""

from datetime import timedelta

from messaging.api.serializers import merge_settings
from messaging.models import DEFAULT_SETTINGS, Agent, Direction, MessageChannel, MessageFlow, default_settings


def load(ctx):
    now = ctx.now
    support = Agent.objects.create(workspace=ctx.workspace, agent_id="agent_support_sms", created_at=now - timedelta(days=21))
    sales = Agent.objects.create(workspace=ctx.workspace, agent_id="agent_sales_email", created_at=now - timedelta(days=14))
    flows = [
        dict(
            id="65f1c0a4e2b7d93a1c4e8f01",
            agent=support,
            name="SMS support line",
            direction=Direction.BIDIRECTIONAL,
            description="Answers customer questions by text message and hands over to a human on request.",
            settings=merge_settings(DEFAULT_SETTINGS, {
                "responseSettings": {
                    "delay": 5,
                    "workingHours": {
                        "enabled": True, "start": "08:00", "end": "20:00", "timezone": "Europe/London",
                        "outOfHoursMessage": "We're closed for the night; a person will answer from 8am.",
                    },
                    "maxLength": 320,
                },
                "security": {"blockedKeywords": ["password", "card number"]},
            }),
            prompt="You are Acme's support assistant. Answer briefly; offer a human agent when unsure.",
            initiation_message="Hi, this is Acme support. How can we help?",
            is_active=True,
            autopilot=True,
            message_channel=MessageChannel.SMS,
            age=timedelta(days=20),
        ),
        dict(
            id="65f1c0a4e2b7d93a1c4e8f02",
            agent=sales,
            name="Email lead follow-up",
            direction=Direction.OUTBOUND,
            description="Follows up on leads from the pricing page two days after sign-up.",
            settings=merge_settings(DEFAULT_SETTINGS, {
                "responseSettings": {"tone": "friendly"},
                "emailSettings": {"subjectLine": "Your Acme plan", "signature": "The Acme team", "replyTo": "sales@example.com"},
            }),
            prompt="You are an email follow-up AI. Be concise and end with one clear question.",
            initiation_message="Thanks for looking at Acme's plans: can I answer anything about pricing?",
            is_active=True,
            autopilot=False,
            message_channel=MessageChannel.EMAIL,
            age=timedelta(days=13),
        ),
        dict(
            id="65f1c0a4e2b7d93a1c4e8f03",
            agent=support,
            name="Appointment reminders (paused)",
            direction=Direction.OUTBOUND,
            description="Reminds customers of booked installation slots the day before.",
            settings=default_settings(),
            prompt="Remind the customer of their appointment and let them confirm or reschedule.",
            initiation_message="Reminder: your Acme installation is booked for tomorrow. Reply YES to confirm.",
            is_active=False,
            autopilot=False,
            message_channel=MessageChannel.SMS,
            age=timedelta(days=6),
        ),
    ]
    for flow in flows:
        created = now - flow.pop("age")
        MessageFlow.objects.create(
            workspace=ctx.workspace, created_at=created, updated_at=created + timedelta(hours=2), version=1, **flow
        )
