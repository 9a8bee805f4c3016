"""A chat session's messages read as a conversation on its admin page: the user's on the right,
the assistant's on the left, system and tool messages between them."""

from django.urls import reverse
from django.utils.http import urlencode

from chat.models import ChatMessage, Role
from flowdesk.admin.reading import ReadingPaneMixin

# As many as the inline below it lists.
CONVERSATION_SHOWN = 200

_SIDE = {Role.USER: "user", Role.ASSISTANT: "tutor"}


def _image_link(url):
    # Only web addresses become links: a stored "javascript:" URL stays text.
    return {"url": url, "linkable": isinstance(url, str) and url.lower().startswith(("https://", "http://"))}


class ConversationAdminMixin(ReadingPaneMixin):
    reading_title = "Conversation"
    reading_template = "admin/chat/chatsession/conversation.html"

    def reading_context(self, obj):
        # One query whatever the chat's length; the total is the session's stored message_count.
        latest = list(
            ChatMessage.objects.filter(session=obj).order_by("-created_at", "-id").only(
                "role", "content", "tokens_used", "image_urls", "created_at", "sender_user_id", "linked_run_id",
                "linked_run_status",
            )[:CONVERSATION_SHOWN]
        )
        latest.reverse()
        messages = [
            {
                "message": message, "side": _SIDE.get(message.role, "system"),
                "images": [_image_link(url) for url in (message.image_urls or [])],
            }
            for message in latest
        ]
        list_url = reverse(f"{self.admin_site.name}:chat_chatmessage_changelist")
        key = obj.session_id if obj.context_type == "session" else None
        return {
            "session": obj, "messages": messages, "shown": len(latest), "total": obj.message_count,
            "messages_url": f"{list_url}?{urlencode({'q': key})}" if key else list_url,
        }
