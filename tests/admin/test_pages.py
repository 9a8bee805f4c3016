"""Every registered model's list, add and change pages, for a superuser and for scoped staff."""

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

pytestmark = pytest.mark.django_db


def flowdesk_models():
    return [m for m in admin.site._registry if m._meta.app_label in ("accounts", "flows", "chat", "messaging", "sessions_app", "auth")]


def test_every_model_is_registered_with_search_and_lists(mine):
    for model in mine.objects:
        assert model in admin.site._registry, model
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label == "auth" and model._meta.model_name == "group":
            continue
        assert model_admin.search_fields, model
        assert model_admin.list_display != ("__str__",), model


def test_superuser_opens_every_page(admin_client_, mine, theirs):
    for model in flowdesk_models():
        opts = model._meta
        response = admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert response.status_code == 200, (model, response.status_code)
        admin_obj = admin.site._registry[model]
        if admin_obj.has_add_permission(response.wsgi_request):
            response = admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
            assert response.status_code == 200, model
        for world in (mine, theirs):
            obj = world.objects.get(model)
            if obj is None:
                continue
            response = admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]))
            assert response.status_code == 200, (model, response.status_code)
