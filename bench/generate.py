"""Realistic volume, fast: rows go into PostgreSQL with COPY, not through the ORM.

Each family has a ``generate_<family>(conn, org, size)`` that returns the number of rows it wrote;
all of them are deterministic for a given seed so two runs measure the same data.
"""

import random
import uuid
from datetime import UTC, datetime, timedelta

import orjson

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


def table(model):
    return model._meta.db_table


def columns(model, names):
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return [fields[name].column for name in names]


def copy_rows(conn, model, names, rows):
    """COPY rows (tuples in ``names`` order) into the model's table; returns how many.

    Columns not named get the model's default (a column added later does not break the generator).
    """
    extra_names, extra_values = [], ()
    for field in model._meta.concrete_fields:
        if field.attname not in names and not field.null and field.has_default():
            value = field.get_default()
            extra_names.append(field.attname)
            extra_values += (jsonb(value) if field.get_internal_type() == "JSONField" else value,)
    count = 0
    cols = ", ".join(columns(model, [*names, *extra_names]))
    with conn.cursor() as cursor, cursor.copy(f"COPY {table(model)} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row + extra_values)
            count += 1
    return count


def jsonb(value):
    return None if value is None else orjson.dumps(value).decode()


def rng(seed):
    return random.Random(seed)


def det_uuid(seed, kind, n):
    """A deterministic, well-formed v4 UUID per (seed, kind, n): rows can be regenerated in passes."""
    return uuid.UUID(int=(seed << 96) | (kind << 80) | n, version=4)


# --- live flows ------------------------------------------------------------------------------


def generate_live_flows(conn, organization_id, sessions=100_000, steps_per_session=10, versions=20, seed=1):
    """``versions`` flow versions of ``steps_per_session`` linear steps, one live flow each, and
    ``sessions`` sessions spread over them, each with ``steps_per_session`` recorded steps."""
    from flows import models

    random_ = rng(seed)
    uid = lambda: uuid.UUID(int=random_.getrandbits(128), version=4)  # noqa: E731
    flows, version_rows, step_rows, transition_rows, live_flows = [], [], [], [], []
    version_steps = []
    for v in range(versions):
        flow_id, version_id, live_flow_id = uid(), uid(), uid()
        at = BASE_TIME + timedelta(hours=v)
        flows.append((flow_id, organization_id, f"Flow {v}", "Generated for the benchmark", at, at))
        version_rows.append((version_id, flow_id, at, at))
        ids = [uid() for _ in range(steps_per_session)]
        for i, step_id in enumerate(ids):
            kind = "START" if i == 0 else ("USER_INPUT" if i % 4 == 3 else "LLM")
            template = None if i == 0 else {"type": "chat", "messages": [
                {"role": "system", "content": f"You are step {i} of flow {v}."},
                {"role": "user", "content": "${INPUTS.message}"},
            ]}
            step_rows.append((step_id, version_id, f"step_{i}", kind, jsonb(template), at + timedelta(microseconds=i),
                              at + timedelta(microseconds=i)))
        for a, b in zip(ids, ids[1:], strict=False):
            transition_rows.append((uid(), version_id, a, b, None))
        live_flows.append((live_flow_id, organization_id, f"Live flow {v}", "", version_id, at, at))
        version_steps.append((live_flow_id, version_id, ids))

    copy_rows(conn, models.Flow, ["id", "organization_id", "name", "description", "created_at", "updated_at"], flows)
    copy_rows(conn, models.FlowVersion, ["id", "flow_id", "created_at", "updated_at"], version_rows)
    copy_rows(conn, models.Step, ["id", "flow_version_id", "name", "step_type", "prompt_template", "created_at",
                           "updated_at"], step_rows)
    copy_rows(conn, models.StepTransition, ["id", "flow_version_id", "source_step_id", "target_step_id", "label"],
              transition_rows)
    copy_rows(conn, models.LiveFlow, ["id", "organization_id", "name", "description", "current_version_id", "created_at",
                               "updated_at"], live_flows)

    def session_id(n):
        return det_uuid(seed, 1, n)

    def recorded_id(n, i):
        return det_uuid(seed, 2, n * 1000 + i)

    steps_count = len(version_steps[0][2])

    def session_rows():
        for n in range(sessions):
            live_flow_id, version_id, ids = version_steps[n % versions]
            created = BASE_TIME + timedelta(seconds=30 * n)
            yield (session_id(n), live_flow_id, version_id, "FINISHED", jsonb({"message": f"Question {n}"}),
                   None, recorded_id(n, steps_count - 1), created, created + timedelta(seconds=steps_count))

    def recorded_rows():
        for n in range(sessions):
            _, version_id, ids = version_steps[n % versions]
            created = BASE_TIME + timedelta(seconds=30 * n)
            for i, step_id in enumerate(ids):
                at = created + timedelta(seconds=i)
                yield (
                    recorded_id(n, i), session_id(n), version_id, step_id, "FINISHED",
                    jsonb({} if i == 0 else {"type": "chat", "text": f"Prompt {i} for question {n}"}),
                    "" if i == 0 else f"Answer {i} to question {n}: " + "lorem ipsum " * 8,
                    None, "yes" if i % 4 == 3 else None, at, at,
                )

    with conn.cursor() as cursor:
        # current_step points at rows COPY writes afterwards: check the composite keys at commit.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    written = copy_rows(
        conn, models.LiveFlowSession,
        ["id", "live_flow_id", "flow_version_id", "status", "inputs", "error", "current_step_id", "created_at",
         "updated_at"], session_rows(),
    )
    written += copy_rows(
        conn, models.LiveFlowSessionStep,
        ["id", "session_id", "flow_version_id", "step_id", "status", "prompt", "result", "error", "user_input",
         "created_at", "updated_at"], recorded_rows(),
    )
    return written, [lf for lf, _, _ in version_steps]


# --- workflow chat ---------------------------------------------------------------------------


def generate_chat(conn, organization_id, sessions=1_000_000, messages_per_session=5, seed=2):
    """Chat sessions (one in ten about a workflow) with their messages and stored summaries."""
    from chat.models import ChatMessage, ChatSession, Workflow

    workflows = max(1, sessions // 10)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table(ChatSession)}")
        first_pk = cursor.fetchone()[0] + 1
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table(Workflow)}")
        first_workflow_pk = cursor.fetchone()[0] + 1
    org_tag = sum(organization_id.encode()) % 4096

    def workflow_id(n):
        # Flowdesk's own key; the API's workflowId is the uuid beside it (unique per organization).
        return first_workflow_pk + n

    written = copy_rows(
        conn, Workflow, ["id", "uuid", "organization_id", "name", "created_at"],
        ((workflow_id(n), det_uuid(seed, 3 + org_tag * 16, n), organization_id, f"Workflow {n}", BASE_TIME)
         for n in range(workflows)),
    )

    def session_times(n):
        first = BASE_TIME + timedelta(seconds=17 * n)
        last = first + timedelta(seconds=40 * (messages_per_session - 1))
        return first, last

    def session_rows():
        for n in range(sessions):
            first, last = session_times(n)
            about_workflow = n % 10 == 0
            yield (
                first_pk + n, organization_id, "workflow" if about_workflow else "session",
                None if about_workflow else f"session_{1700000000 + n}_{n % 997:03x}",
                workflow_id(n // 10) if about_workflow else None,
                messages_per_session, first if messages_per_session else None,
                last if messages_per_session else None,
                f"How do I connect step {n % 50} to the webhook?" if messages_per_session else None,
                last if messages_per_session else first, first,
            )

    written += copy_rows(
        conn, ChatSession,
        ["id", "organization_id", "context_type", "session_id", "workflow_id", "message_count", "first_message_at",
         "last_message_at", "preview", "activity_at", "created_at"],
        session_rows(),
    )

    def message_rows():
        for n in range(sessions):
            first, _ = session_times(n)
            for i in range(messages_per_session):
                user = i % 2 == 0
                yield (
                    det_uuid(seed, 4 + org_tag * 16, n * 64 + i), first_pk + n, "user" if user else "assistant",
                    f"How do I connect step {n % 50} to the webhook?" if i == 0 else f"Message {i} of chat {n}.",
                    None if user else 120 + i, "[]", first + timedelta(seconds=40 * i),
                )

    written += copy_rows(
        conn, ChatMessage, ["id", "session_id", "role", "content", "tokens_used", "image_urls", "created_at"],
        message_rows(),
    )
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table(ChatSession)}', 'id'), "
            f"(SELECT MAX(id) FROM {table(ChatSession)}))"
        )
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table(Workflow)}', 'id'), "
            f"(SELECT MAX(id) FROM {table(Workflow)}))"
        )
    return written


# --- user sessions ---------------------------------------------------------------------------


def generate_user_sessions(conn, user_id, organization_id, sessions=50_000, dialogue_items=20, seed=3):
    """``sessions`` sessions of one user, each with a dialogue of ``dialogue_items`` items
    (user and AI turns, every fifth AI answer a nested group of log items) and one audio clip."""
    from sessions_app.models import AudioClip, DialogueItem, UserSession

    with conn.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table(UserSession)}")
        first_pk = cursor.fetchone()[0] + 1

    def session_rows():
        for n in range(sessions):
            created = BASE_TIME + timedelta(seconds=23 * n)
            yield (
                first_pk + n, str(det_uuid(seed, 5, n)), f"s{seed}{n:010d}", user_id, organization_id,
                f"Lesson {n % 40}: loops and lists", False,
                jsonb(["Show me an example", "Explain again"] if n % 3 else []), False,
                jsonb({"files": [{"name": "main.py", "content": f"for i in range({n % 10}):\n    print(i)\n"}]}),
                n % 7 == 0, jsonb(["web"]), "en" if n % 5 else "pt-BR", n % 2 == 0, "text",
                f"The student is working on exercise {n % 12}.",
                n % 4 == 0, jsonb(n % 9 if n % 4 == 0 else None), jsonb(n % 100),
                jsonb(12.5 * (n % 8)), n % 30, dialogue_items // 2, dialogue_items // 2, n % 6,
                False, None, None, jsonb([{"x": 10, "y": 20, "value": 1, "timestamp": 1700000000 + n}]),
                jsonb(f"user_{n % 100}") if n % 2 else jsonb({"id": f"user_{n % 100}", "username": "ada",
                                                               "image": None, "email": "ada@example.com"}),
                created, created + timedelta(seconds=20 * dialogue_items),
            )

    written = copy_rows(
        conn, UserSession,
        ["id", "uuid", "session_id", "user_id", "organization_id", "name", "dialogue_null", "quick_replies",
         "is_replying", "workspace", "is_vm_running", "clients", "language", "easy_mode", "response_mode",
         "llm_context", "tutorial_is_tutorial", "tutorial_id", "tutorial_progress", "stats_total_connecting_time",
         "stats_current_num_of_blocks", "stats_total_invoked_llm", "stats_total_user_messages",
         "stats_total_code_executions", "audios_null", "user_audio", "screenshot", "clicks", "user_info",
         "created_at", "updated_at"],
        session_rows(),
    )

    def dialogue_rows():
        for n in range(sessions):
            for i in range(dialogue_items):
                user = i % 2 == 0
                if user:
                    content = f"How do I make loop {i // 2} of lesson {n % 40} stop early?"
                elif i % 10 == 9:
                    content = [
                        {"id": 1, "contentType": "log", "isUser": False, "content": "Running main.py"},
                        {"id": 2, "contentType": "log", "isUser": False, "content": "0\n1\n2"},
                    ]
                else:
                    content = "Use `break` inside the loop when the condition holds. " + "For example... " * 6
                yield (
                    n + first_pk, i, i + 1, "user" if user else ("group_log" if i % 10 == 9 else "ai"), user,
                    jsonb(content), "run" if i == 1 else None,
                )

    written += copy_rows(
        conn, DialogueItem, ["session_id", "position", "item_id", "content_type", "is_user", "content", "ui"],
        dialogue_rows(),
    )
    written += copy_rows(
        conn, AudioClip, ["session_id", "position", "clip_id", "base64"],
        ((first_pk + n, 0, f"clip_{n}", "UklGRiQAAABXQVZFZm10IBAAAAABAAEA") for n in range(sessions)),
    )
    for model in (UserSession, DialogueItem, AudioClip):
        with conn.cursor() as cursor:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table(model)}', 'id'), (SELECT MAX(id) FROM {table(model)}))"
            )
    return written


# --- message flows ---------------------------------------------------------------------------


def message_flow_workspace(n):
    return f"ws_bench{n:04d}"


def generate_message_flows(conn, organization_id, flows=100_000, workspaces=100, agents_per_workspace=5, seed=4):
    """``flows`` message flows spread over ``workspaces`` workspaces of the organization."""
    from accounts.models import Workspace
    from messaging.models import Agent, MessageFlow

    written = copy_rows(
        conn, Workspace, ["id", "organization_id", "name", "created_at"],
        ((message_flow_workspace(w), organization_id, f"Workspace {w}", BASE_TIME) for w in range(workspaces)),
    )
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table(Agent)}")
        first_agent = cursor.fetchone()[0] + 1
    written += copy_rows(
        conn, Agent, ["id", "workspace_id", "agent_id", "created_at"],
        ((first_agent + w * agents_per_workspace + a, message_flow_workspace(w), f"agent_{a:02d}", BASE_TIME)
         for w in range(workspaces) for a in range(agents_per_workspace)),
    )

    def flow_rows():
        for n in range(flows):
            w = n % workspaces
            a = (n // workspaces) % agents_per_workspace
            created = BASE_TIME + timedelta(seconds=11 * n, milliseconds=n % 1000)
            settings = {
                "responseSettings": {"tone": "friendly", "maxLength": 300 + n % 200},
                "security": {"allowLinks": n % 2 == 0},
            }
            if n % 3 == 0:
                settings["emailSettings"] = {"signature": f"The team of workspace {w}"}
            yield (
                f"{seed:04x}{n:020x}", message_flow_workspace(w), first_agent + w * agents_per_workspace + a,
                f"Follow-up flow {n}", ("inbound", "outbound", "bidirectional")[n % 3],
                None if n % 10 == 0 else f"Reminds customers about appointment {n % 97}.", jsonb(settings),
                "You are a polite assistant. Confirm the appointment and answer questions briefly.",
                "Hi! This is a reminder about your appointment.", n % 5 != 0, n % 4 == 0,
                "SMS" if n % 2 else "Email", created, created + timedelta(minutes=n % 60), n % 3,
            )

    written += copy_rows(
        conn, MessageFlow,
        ["id", "workspace_id", "agent_id", "name", "direction", "description", "settings", "prompt",
         "initiation_message", "is_active", "autopilot", "message_channel", "created_at", "updated_at", "version"],
        flow_rows(),
    )
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table(Agent)}', 'id'), (SELECT MAX(id) FROM {table(Agent)}))"
        )
    return written
