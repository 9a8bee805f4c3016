from flowdesk.api.routers import OptionalSlashRouter
from messaging.api import views

router = OptionalSlashRouter()
router.register(r"v1/api/message-flows", views.MessageFlowViewSet, basename="message-flow")

urlpatterns = router.urls
