"""The floor each list endpoint is measured against: the same response bytes, produced with one
raw SQL query through psycopg and orjson in the same process, with no framework in between."""

import orjson

TS = """to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')"""


def z(text):
    """PostgreSQL's 'YYYY-MM-DDTHH:MI:SS.US' as the API writes it: fraction only where stored."""
    if text is None:
        return None
    return text.rstrip("0").rstrip(".") + "Z"


def fetch(conn, sql, params):
    """The rows of one query: each floor's only trip to the database."""
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


LIVE_FLOW_SESSIONS_SQL = f"""
WITH page AS (
    SELECT * FROM flows_liveflowsession
    WHERE live_flow_id = %(live_flow_id)s
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
)
SELECT s.id::text, s.inputs::text, s.error, s.status, s.current_step_id::text,
       {TS.format(col="s.created_at")}, {TS.format(col="s.updated_at")},
       v.id::text, v.flow_id::text, {TS.format(col="v.created_at")}, {TS.format(col="v.updated_at")},
       (SELECT json_agg(json_build_object(
                'id', st.id, 'name', st.name, 'step_type', st.step_type, 'prompt_template', st.prompt_template,
                'created_at', {TS.format(col="st.created_at")}, 'updated_at', {TS.format(col="st.updated_at")})
                ORDER BY st.created_at, st.id)::text
          FROM flows_step st WHERE st.flow_version_id = v.id),
       (SELECT json_agg(json_build_object(
                'source_step_id', t.source_step_id, 'target_step_id', t.target_step_id, 'label', t.label, 'id', t.id)
                ORDER BY t.id)::text
          FROM flows_steptransition t WHERE t.flow_version_id = v.id),
       (SELECT json_agg(json_build_object(
                'id', r.id, 'status', r.status, 'prompt', r.prompt, 'result', r.result, 'error', r.error,
                'user_input', r.user_input, 'step_id', r.step_id,
                'created_at', {TS.format(col="r.created_at")}, 'updated_at', {TS.format(col="r.updated_at")})
                ORDER BY r.created_at, r.id)::text
          FROM flows_liveflowsessionstep r WHERE r.session_id = s.id)
FROM page s JOIN flows_flowversion v ON v.id = s.flow_version_id
ORDER BY s.created_at DESC, s.id DESC
"""


def live_flow_sessions(conn, live_flow_id, limit):
    rows = fetch(conn, LIVE_FLOW_SESSIONS_SQL, {"live_flow_id": live_flow_id, "limit": limit})
    return orjson.dumps(live_flow_session_items(rows))


def live_flow_session_items(rows):
    """The list items of LIVE_FLOW_SESSIONS_SQL's rows (the served floor answers one session with these too)."""
    versions = {}
    body = []
    for (sid, inputs, error, status, current_id, created, updated, vid, flow_id, vcreated, vupdated,
         vsteps, vtrans, recorded) in rows:
        version = versions.get(vid)
        if version is None:
            steps = orjson.loads(vsteps or "[]")
            for step in steps:
                step["created_at"], step["updated_at"] = z(step["created_at"]), z(step["updated_at"])
            version = {
                "id": vid, "flow_id": flow_id, "steps": steps,
                "step_transitions": orjson.loads(vtrans or "[]"),
                "created_at": z(vcreated), "updated_at": z(vupdated),
            }
            version["by_id"] = {s["id"]: s for s in steps}
            versions[vid] = version
        steps_out = []
        current = None
        for r in orjson.loads(recorded or "[]"):
            item = {
                "id": r["id"], "status": r["status"], "prompt": r["prompt"], "result": r["result"],
                "error": r["error"], "user_input": r["user_input"], "step": version["by_id"][r["step_id"]],
                "created_at": z(r["created_at"]), "updated_at": z(r["updated_at"]),
            }
            if r["id"] == current_id:
                current = item
            steps_out.append(item)
        body.append({
            "id": sid, "steps_count": len(steps_out), "inputs": orjson.loads(inputs), "error": error,
            "status": status,
            "flow_version": {k: v for k, v in version.items() if k != "by_id"},
            "created_at": z(created), "updated_at": z(updated), "current_step": current, "steps": steps_out,
        })
    return body


CHAT_SESSIONS_SQL = f"""
SELECT s.context_type, c.conversation_id, {TS.format(col="s.first_message_at")}, {TS.format(col="s.last_message_at")},
       s.message_count, s.preview, s.session_id, w.uuid::text, w.name
FROM chat_chatsession s LEFT JOIN chat_workflow w ON w.id = s.workflow_id
     LEFT JOIN chat_conversation c ON c.id = s.conversation_id
WHERE s.organization_id = %(org)s
ORDER BY s.activity_at DESC, s.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


def chat_sessions(conn, organization_id, limit, offset=0, request_id="req_floor"):
    rows = fetch(conn, CHAT_SESSIONS_SQL, {"org": organization_id, "limit": limit + 1, "offset": offset})
    items = chat_session_items(rows[:limit])
    return orjson.dumps({"code": 200, "data": {"hasMore": len(rows) > limit, "items": items, "limit": limit,
                                               "offset": offset}, "message": "success", "requestId": request_id})


def chat_session_items(rows):
    return [
        {"contextType": ctx, "conversationId": conversation, "firstMessageAt": z(first), "lastMessageAt": z(last),
         "messageCount": count, "preview": preview, "sessionId": sid, "workflowId": wid, "workflowName": wname}
        for ctx, conversation, first, last, count, preview, sid, wid, wname in rows
    ]


USER_SESSIONS_SQL = f"""
WITH page AS (
    SELECT * FROM sessions_app_usersession
    WHERE user_id = %(user_id)s
    ORDER BY updated_at DESC, id DESC
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT s.uuid, s.session_id, s.name, s.dialogue_null, s.quick_replies::text, s.is_replying, s.workspace::text,
       s.is_vm_running, s.clients::text, s.language, s.easy_mode, s.response_mode, s.llm_context,
       s.tutorial_is_tutorial, s.tutorial_id::text, s.tutorial_progress::text, s.stats_total_connecting_time::text,
       s.stats_current_num_of_blocks, s.stats_total_invoked_llm, s.stats_total_user_messages,
       s.stats_total_code_executions, s.audios_null, s.user_audio, s.screenshot, s.clicks::text, s.user_info::text,
       {TS.format(col="s.created_at")}, {TS.format(col="s.updated_at")},
       (SELECT json_agg(CASE WHEN d.ui IS NULL
                             THEN json_build_object('id', d.item_id, 'contentType', d.content_type,
                                                    'isUser', d.is_user, 'content', d.content)
                             ELSE json_build_object('id', d.item_id, 'contentType', d.content_type,
                                                    'isUser', d.is_user, 'content', d.content, 'ui', d.ui)
                        END ORDER BY d.position)::text
          FROM sessions_app_dialogueitem d WHERE d.session_id = s.id),
       (SELECT json_agg(json_build_object('id', a.clip_id, 'base64', a.base64) ORDER BY a.position)::text
          FROM sessions_app_audioclip a WHERE a.session_id = s.id)
FROM page s
ORDER BY s.updated_at DESC, s.id DESC
"""


def _json(text):
    return None if text is None else orjson.loads(text)


def user_sessions(conn, user_id, limit, offset=0):
    rows = fetch(conn, USER_SESSIONS_SQL, {"user_id": user_id, "limit": limit, "offset": offset})
    return orjson.dumps(user_session_items(rows))


def user_session_items(rows):
    return [
        {
            "uuid": uuid_, "sessionId": sid, "name": name,
            "dialogue": None if dialogue_null else orjson.loads(dialogue or "[]"),
            "quickReplies": _json(quick), "isReplying": replying, "workspace": _json(workspace),
            "isVMRunning": vm, "clients": _json(clients), "language": language, "easyMode": easy,
            "responseMode": mode, "llmContext": context,
            "tutorial": {"isTutorial": is_tutorial, "tutorialId": _json(tutorial_id), "progress": _json(progress)},
            "stats": {"totalConnectingTime": _json(connecting), "currentNumOfBlocks": blocks,
                      "totalInvokedLLM": llm, "totalUserMessages": user_messages, "totalCodeExecutions": runs},
            "audios": None if audios_null else orjson.loads(audios or "[]"),
            "userAudio": user_audio, "screenshot": screenshot, "clicks": _json(clicks), "userInfo": _json(info),
            "createdAt": z(created), "updatedAt": z(updated),
        }
        for (uuid_, sid, name, dialogue_null, quick, replying, workspace, vm, clients, language, easy, mode, context,
             is_tutorial, tutorial_id, progress, connecting, blocks, llm, user_messages, runs, audios_null,
             user_audio, screenshot, clicks, info, created, updated, dialogue, audios) in rows
    ]


MESSAGE_FLOWS_SQL = f"""
SELECT f.id, f.workspace_id, f.name, f.direction, f.description, a.agent_id, f.settings::text, f.prompt,
       f.is_active, f.autopilot, f.message_channel, {TS.format(col="f.created_at")}, {TS.format(col="f.updated_at")}
FROM messaging_messageflow f JOIN messaging_agent a ON a.id = f.agent_id
WHERE f.workspace_id = %(workspace)s
ORDER BY f.created_at, f.id
LIMIT %(limit)s OFFSET %(offset)s
"""


def message_flows(conn, workspace_id, limit, offset=0):
    rows = fetch(conn, MESSAGE_FLOWS_SQL, {"workspace": workspace_id, "limit": limit, "offset": offset})
    return orjson.dumps(message_flow_items(rows))


def message_flow_items(rows):
    return [
        {"_id": fid, "workspaceId": ws, "name": name, "direction": direction, "description": description,
         "agent": agent, "settings": orjson.loads(settings), "prompt": prompt, "isActive": active,
         "autopilot": autopilot, "messageChannel": channel, "createdAt": z(created), "updatedAt": z(updated)}
        for fid, ws, name, direction, description, agent, settings, prompt, active, autopilot, channel, created,
        updated in rows
    ]
