"""/admin/insights/: one organization's trends over a date range, drawn as SVG on the server."""

from django.contrib import admin
from django.template.response import TemplateResponse


def insights_view(request):
    context = {**admin.site.each_context(request), "title": "Insights"}
    return TemplateResponse(request, "admin/flowdesk/insights.html", context)
