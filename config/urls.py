from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    # Flowdesk's own admin pages (insights), before the admin's catch-all.
    path("admin/", include("flowdesk.admin.urls")),
    path("admin/", include("flowdesk.search.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("flows.api.urls")),
    path("", include("sessions_app.api.urls")),
    path("", include("chat.api.urls")),
    path("", include("messaging.api.urls")),
]
