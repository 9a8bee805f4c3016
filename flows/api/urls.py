from flowdesk.api.routers import OptionalSlashRouter
from flows.api import views

router = OptionalSlashRouter()
router.register(r"flows/(?P<flow_id>[^/]+)/versions", views.FlowVersionViewSet, basename="flow-version")
router.register(r"flows", views.FlowViewSet, basename="flow")
router.register(r"live_flows/(?P<live_flow_id>[^/]+)/sessions", views.LiveFlowSessionViewSet, basename="live-flow-session")
router.register(r"live_flows", views.LiveFlowViewSet, basename="live-flow")

urlpatterns = router.urls
