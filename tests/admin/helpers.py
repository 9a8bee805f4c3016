"""Posting the admin's forms as a browser would: every field with the value the page shows."""

import asyncio
from datetime import datetime

from django import forms
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership


def admin_url(model, view, *args):
    """The admin's URL, its pk quoted as the admin quotes it (an id with "_24" in it would read "$")."""
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[quote(arg) for arg in args])


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def staff_member(organization, group_name, app_labels):
    """A staff member (not a superuser) of ``organization`` with every permission of those apps."""
    group, _ = Group.objects.get_or_create(name=group_name)
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=app_labels))
    user = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    user.groups.add(group)
    Membership.objects.create(user=user, organization=organization)
    return user


def _form_values(form, data):
    for name, field in form.fields.items():
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(field, forms.SplitDateTimeField):
            if value:
                value = timezone.localtime(value) if isinstance(value, datetime) else value
                data[f"{key}_0"], data[f"{key}_1"] = value.date().isoformat(), value.time().isoformat()
            else:
                data[f"{key}_0"] = data[f"{key}_1"] = ""
        elif isinstance(field, forms.BooleanField):
            if value:
                data[key] = "on"
        elif isinstance(field.widget, forms.CheckboxSelectMultiple | forms.SelectMultiple):
            data[key] = [str(v) for v in (value or [])]
        elif value is None:
            data[key] = ""
        else:
            data[key] = str(value)


def page_form_data(response):
    """The POST body of the change/add page in ``response``, unchanged."""
    context = response.context
    data = {}
    _form_values(context["adminform"].form, data)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value())
        for form in formset.forms:
            _form_values(form, data)
    return data


def add_inline_row(data, prefix, **values):
    """One more (new) row in the inline formset ``prefix``."""
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in values.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    return data


def changelist_ids(response):
    return {obj.pk for obj in response.context["cl"].result_list}


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def _post_in_thread(client, url, data):
    try:
        return client.post(url, data)
    finally:
        connections.close_all()  # this thread's: the test database is dropped at the end


async def post_and_listen(client, url, data, channel, expected=1):
    """POST an admin form while listening on ``channel``; (response, the events heard there:
    the ``expected`` ones, then any more that come within 0.2 s, which would be too many)."""
    from asgiref.sync import sync_to_async

    from flowdesk import events

    async with events.listen(channel) as queue:
        response = await sync_to_async(_post_in_thread)(client, url, data)
        received = []
        try:
            for _ in range(expected):
                received.append(await asyncio.wait_for(queue.get(), 5))
        except TimeoutError:
            pass
        await asyncio.sleep(0.2)
        while not queue.empty():
            received.append(queue.get_nowait())
    return response, received
