"""Demo data for the user-sessions family: the demo user's tutoring sessions."""

from datetime import timedelta

from sessions_app.models import AudioClip, ContentType, DialogueItem, ResponseMode, UserSession
from sessions_app.services import owner_user_info


def _item(item_id, content_type, content, ui=None):
    item = {
        "id": item_id,
        "contentType": content_type,
        "isUser": content_type in (ContentType.USER, ContentType.USER_AUDIO),
        "content": content,
    }
    if ui is not None:
        item["ui"] = ui
    return item


def load(ctx):
    now = ctx.now
    user_info = owner_user_info(ctx.user)
    sessions = [
        {
            "session_id": "dEmOLoops001",
            "uuid": "3d1f6a52-8c0e-4b7a-9f21-5e4d3c2b1a01",
            "name": "Loops in Python",
            "language": "en",
            "age": timedelta(hours=2),
            "dialogue": [
                _item(1, ContentType.USER, "How do I repeat something five times?"),
                _item(2, ContentType.AI, "Use a for loop: `for i in range(5):` and indent the body."),
                _item(3, ContentType.USER, "Like this?"),
                _item(4, ContentType.GROUP_LOG, [
                    _item(1, ContentType.LOG, "$ python main.py"),
                    _item(2, ContentType.LOG, "0\n1\n2\n3\n4"),
                ]),
                _item(5, ContentType.AI, "Exactly. Now try counting down from 5."),
                _item(6, ContentType.UI, "Or pick a tutorial to continue.", ui="selectTutorial"),
            ],
            "quick_replies": ["Show me another example", "Give me an exercise"],
            "workspace": {"files": [{"path": "main.py", "content": "for i in range(5):\n    print(i)\n"}],
                          "activeFile": "main.py"},
            "tutorial": (True, 3, 0.6),
            "stats": (1260.5, 4, 3, 2, 1),
            "audios": [],
            "clicks": [{"x": 412, "y": 188, "value": 1, "timestamp": 1699334400123}],
        },
        {
            "session_id": "dEmOVoice002",
            "uuid": "3d1f6a52-8c0e-4b7a-9f21-5e4d3c2b1a02",
            "name": "Variables — en français",
            "language": "fr",
            "age": timedelta(days=1),
            "response_mode": ResponseMode.AUDIO,
            "dialogue": [
                _item(1, ContentType.USER_AUDIO, "Qu'est-ce qu'une variable ?"),
                _item(2, ContentType.AI_AUDIO, "Une variable est un nom qui désigne une valeur."),
                _item(3, ContentType.ERROR, "Le micro s'est déconnecté."),
            ],
            "quick_replies": [],
            "workspace": None,
            "tutorial": (False, None, 0),
            "stats": (340, 0, 1, 1, 0),
            "audios": [("clip-1", "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=")],
            "clicks": None,
        },
        {
            "session_id": "dEmOFresh003",
            "uuid": "3d1f6a52-8c0e-4b7a-9f21-5e4d3c2b1a03",
            "name": None,
            "language": "en",
            "age": timedelta(days=3),
            "dialogue": [],
            "quick_replies": [],
            "workspace": None,
            "tutorial": (False, None, 0),
            "stats": (0, 0, 0, 0, 0),
            "audios": [],
            "clicks": [],
        },
    ]
    for spec in sessions:
        at = now - spec["age"]
        is_tutorial, tutorial_id, progress = spec["tutorial"]
        connecting, blocks, invoked, user_messages, executions = spec["stats"]
        session = UserSession.objects.create(
            uuid=spec["uuid"],
            session_id=spec["session_id"],
            user=ctx.user,
            organization=ctx.organization,
            name=spec["name"],
            quick_replies=spec["quick_replies"],
            workspace=spec["workspace"],
            clients=[],
            language=spec["language"],
            response_mode=spec.get("response_mode", ResponseMode.TEXT),
            tutorial_is_tutorial=is_tutorial,
            tutorial_id=tutorial_id,
            tutorial_progress=progress,
            stats_total_connecting_time=connecting,
            stats_current_num_of_blocks=blocks,
            stats_total_invoked_llm=invoked,
            stats_total_user_messages=user_messages,
            stats_total_code_executions=executions,
            clicks=spec["clicks"],
            user_info=user_info,
            created_at=at - timedelta(minutes=20),
            updated_at=at,
        )
        DialogueItem.objects.bulk_create(
            DialogueItem(
                session=session, position=position, item_id=item["id"], content_type=item["contentType"],
                is_user=item["isUser"], content=item["content"], ui=item.get("ui"),
            )
            for position, item in enumerate(spec["dialogue"])
        )
        AudioClip.objects.bulk_create(
            AudioClip(session=session, position=position, clip_id=clip_id, base64=base64)
            for position, (clip_id, base64) in enumerate(spec["audios"])
        )
