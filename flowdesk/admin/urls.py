"""Flowdesk's own admin pages (beside the model admins): included under /admin/ before the admin's
catch-all, each wrapped in admin.site.admin_view (staff login, the admin's chrome)."""

from django.contrib import admin
from django.urls import path

from flowdesk.admin import insights

urlpatterns = [
    path("insights/", admin.site.admin_view(insights.insights_view), name="flowdesk-insights"),
]
