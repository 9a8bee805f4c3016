"""Demo data for the workflow-chat family: a create-page chat that became a workflow (one
conversation across both chats) and two more edit-page workflow chats."""

import uuid
from datetime import timedelta

from chat.models import Role
from chat.services import post_message

LEAD_WORKFLOW_ID = uuid.UUID("8b7f2c1e-4a5d-4e6f-9a0b-1c2d3e4f5a6b")
DIGEST_WORKFLOW_ID = uuid.UUID("2d9e4f60-7a1b-4c3d-8e5f-6a7b8c9d0e1f")
TICKETS_WORKFLOW_ID = uuid.UUID("5a1c7e92-3b4d-4f60-8a7b-9c0d1e2f3a4b")
# The create-page chat and the workflow it became share this conversation.
TICKETS_CONVERSATION_ID = "8f14e45f-ceea-4e7a-9b1c-3d2e5f6a7b8c"

CHATS = [
    # (sessionId or None, workflowId or None, workflowName, conversationId or None,
    #  minutes ago of the first message, messages)
    ("session_1718031200000_k3j9d2", None, None, TICKETS_CONVERSATION_ID, 60 * 26, [
        (Role.USER, "I want a workflow that emails me a summary of new support tickets every morning.", None),
        (Role.ASSISTANT, "Sure. Which helpdesk do you use, and at what time should the email go out?", 182),
        (Role.USER, "Zendesk, at 8:00 Berlin time.", None),
        (Role.ASSISTANT, "Done: a daily trigger at 08:00 Europe/Berlin, a Zendesk search and an email step.", 241),
    ]),
    (None, TICKETS_WORKFLOW_ID, "Morning ticket summary", TICKETS_CONVERSATION_ID, 60 * 25, [
        (Role.USER, "Saved it. Can the email group the tickets by priority?", None),
        (Role.ASSISTANT, "Yes: the email step now lists urgent and high-priority tickets first.", 198),
    ]),
    (None, LEAD_WORKFLOW_ID, "Lead qualification", None, 60 * 5, [
        (Role.USER, "Add a step that scores each lead from 1 to 10 based on company size.", None),
        (Role.ASSISTANT, "I added an LLM step 'score_lead' after 'enrich_company'. It reads employee_count.", 310),
        (Role.USER, "Only send leads with a score of 7 or more to the CRM.", None),
        (Role.ASSISTANT, "Added a condition before 'create_crm_contact': score >= 7.", 158),
        (Role.USER, "Here is what the CRM form looks like now.", None),
        (Role.ASSISTANT, "Thanks: I mapped the new 'Industry' field to the enrichment result.", 204),
    ]),
    (None, DIGEST_WORKFLOW_ID, "Weekly report digest", None, 35, [
        (Role.USER, "Why did last Monday's run fail?", None),
        (Role.ASSISTANT, "The Google Sheets step hit a permission error: the sheet was moved to a shared drive.", 275),
    ]),
]


def load(ctx):
    for session_id, workflow_id, workflow_name, conversation_id, minutes_ago, messages in CHATS:
        started = ctx.now - timedelta(minutes=minutes_ago)
        extra = {"workflow_id": workflow_id, "workflow_name": workflow_name} if workflow_id else {"session_id": session_id}
        extra["conversation_id"] = conversation_id
        for index, (role, content, tokens) in enumerate(messages):
            image_urls = []
            if "CRM form" in content:
                image_urls = ["https://files.example.com/demo/crm-form.png"]
            post_message(
                ctx.organization,
                role=role,
                content=content,
                tokens_used=tokens,
                image_urls=image_urls,
                created_at=started + timedelta(minutes=2 * index, seconds=index * 7),
                **extra,
            )
