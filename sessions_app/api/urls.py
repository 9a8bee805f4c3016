from flowdesk.api.routers import OptionalSlashRouter
from sessions_app.api import views

router = OptionalSlashRouter()
router.register(r"session", views.UserSessionViewSet, basename="user-session")

urlpatterns = router.urls
