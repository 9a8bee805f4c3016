"""The vendor's shapes at rest: `ui` an optional string, dialogue ids as the client gives them.

Stored values the vendor's schemas cannot carry are rewritten once, without losing what they said:
a non-string `ui`, or a non-string item of `quickReplies` or `clients`, becomes its JSON text; a
`ui` of null is dropped from nested items (the key is absent); a null `username` or `email` in an
object `userInfo` becomes "".
"""

import json

from django.db import migrations, models

BATCH = 1000


def _as_text(value):
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _vendor_items(items):
    """Nested dialogue items with `ui` a string or absent; None when nothing changes."""
    changed = False
    cleaned = []
    for item in items:
        if isinstance(item, dict):
            item = dict(item)
            if "ui" in item and not isinstance(item["ui"], str):
                if item["ui"] is None:
                    del item["ui"]
                else:
                    item["ui"] = _as_text(item["ui"])
                changed = True
            if isinstance(item.get("content"), list):
                inner = _vendor_items(item["content"])
                if inner is not None:
                    item["content"] = inner
                    changed = True
        cleaned.append(item)
    return cleaned if changed else None


def _in_batches(model, rows, fields):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            model.objects.bulk_update(batch, fields)
            batch = []
    if batch:
        model.objects.bulk_update(batch, fields)


def forwards(apps, schema_editor):
    DialogueItem = apps.get_model("sessions_app", "DialogueItem")
    UserSession = apps.get_model("sessions_app", "UserSession")
    is_array = "jsonb_typeof(content) = 'array'" if schema_editor.connection.vendor == "postgresql" else (
        "json_type(content) = 'array'"
    )

    def top_level():
        for item in DialogueItem.objects.filter(ui__isnull=False).only("pk", "ui").iterator(chunk_size=BATCH):
            if item.ui is not None:
                item.ui_text = _as_text(item.ui)
                yield item

    _in_batches(DialogueItem, top_level(), ["ui_text"])

    def nested():
        for item in DialogueItem.objects.extra(where=[is_array]).only("pk", "content").iterator(chunk_size=BATCH):
            content = _vendor_items(item.content)
            if content is not None:
                item.content = content
                yield item

    _in_batches(DialogueItem, nested(), ["content"])

    def sessions():
        fields = ("pk", "quick_replies", "clients", "user_info")
        for session in UserSession.objects.only(*fields).iterator(chunk_size=BATCH):
            changed = False
            for name in ("quick_replies", "clients"):
                values = getattr(session, name)
                if isinstance(values, list) and not all(isinstance(v, str) for v in values):
                    setattr(session, name, [_as_text(v) for v in values])
                    changed = True
            info = session.user_info
            if isinstance(info, dict) and any(info.get(key) is None for key in ("username", "email")):
                session.user_info = {**info, **{k: "" for k in ("username", "email") if info.get(k) is None}}
                changed = True
            if changed:
                yield session

    _in_batches(UserSession, sessions(), ["quick_replies", "clients", "user_info"])


def backwards(apps, schema_editor):
    DialogueItem = apps.get_model("sessions_app", "DialogueItem")

    def items():
        for item in DialogueItem.objects.filter(ui_text__isnull=False).only("pk", "ui_text").iterator(chunk_size=BATCH):
            item.ui = item.ui_text
            yield item

    _in_batches(DialogueItem, items(), ["ui"])


class Migration(migrations.Migration):

    dependencies = [
        ("sessions_app", "0002_admin_list_index"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="dialogueitem", name="dialogueitem_id_unique"),
        migrations.AlterField(
            model_name="dialogueitem",
            name="item_id",
            field=models.BigIntegerField(help_text="The client's `id`; an appended item gets the highest plus one."),
        ),
        migrations.AlterField(
            model_name="usersession",
            name="language",
            field=models.CharField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="dialogueitem",
            name="ui_text",
            field=models.CharField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, backwards, elidable=True),
        migrations.RemoveField(model_name="dialogueitem", name="ui"),
        migrations.RenameField(model_name="dialogueitem", old_name="ui_text", new_name="ui"),
    ]
