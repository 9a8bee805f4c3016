from django.contrib import admin
from django.urls import path

from flowdesk.search.views import search

urlpatterns = [path("search/", admin.site.admin_view(search), name="flowdesk_search")]
