from django.urls import re_path

from chat.api import views
from flowdesk.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register(r"v1/ai/workflow/chat/sessions", views.ChatSessionViewSet, basename="chat-session")

urlpatterns = [
    re_path(r"^v1/ai/workflow/chat/history/?$", views.ChatHistoryView.as_view(), name="chat-history"),
    re_path(r"^v1/ai/workflow/chat/messages/?$", views.ChatMessageView.as_view(), name="chat-messages"),
    re_path(r"^v1/ai/workflow/chat/stream/?$", views.ChatStreamView.as_view(), name="chat-stream"),
    *router.urls,
]
