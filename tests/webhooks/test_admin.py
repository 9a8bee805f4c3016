"""The webhooks admin: endpoints (secret shown once), the delivery log read-only, redelivery, tenant scoping."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership, Organization
from tests.admin.helpers import admin_url, changelist_ids, messages_of
from tests.webhooks.conftest import endpoint_for, settle
from webhooks.models import Delivery, DeliveryAttempt, DeliveryState, WebhookEndpoint

URL = "https://93.184.216.34/hooks"


def delivery_for(endpoint, state=DeliveryState.FAILED, attempts=1, at=None):
    at = at or timezone.now()
    delivery = Delivery.objects.create(
        endpoint=endpoint, organization_id=endpoint.organization_id, event_type=endpoint.events[0],
        event_id="evt_" + str(at.timestamp()).replace(".", ""), body='{"event":"x","data":{},"id":"evt_1","at":"now"}',
        state=state, attempts_count=attempts, attempts_left=0, next_attempt_at=None, created_at=at, updated_at=at,
        last_status_code=500,
    )
    for number in range(1, attempts + 1):
        DeliveryAttempt.objects.create(delivery=delivery, number=number, url=endpoint.url, status_code=500,
                                       error="HTTP 500 Internal Server Error", started_at=at)
    return delivery


@pytest.fixture
def both(tenant, other_tenant):
    mine = endpoint_for(tenant.organization, URL, name="mine")
    theirs = endpoint_for(other_tenant.organization, URL, name="theirs")
    return {
        "mine": (mine, delivery_for(mine)),
        "theirs": (theirs, delivery_for(theirs)),
    }


def objects_of(side):
    endpoint, delivery = side
    return {WebhookEndpoint: endpoint, Delivery: delivery, DeliveryAttempt: delivery.attempts.get()}


@pytest.mark.django_db
def test_staff_see_and_open_only_their_organizations_webhooks(staff_client, superuser_client, both):
    mine, theirs = objects_of(both["mine"]), objects_of(both["theirs"])
    for model in (WebhookEndpoint, Delivery, DeliveryAttempt):
        response = staff_client.get(admin_url(model, "changelist"))
        assert response.status_code == 200, model
        assert changelist_ids(response) == {mine[model].pk}, model
        assert changelist_ids(superuser_client.get(admin_url(model, "changelist"))) == {
            mine[model].pk, theirs[model].pk
        }, model
        assert staff_client.get(admin_url(model, "change", mine[model].pk)).status_code == 200, model
        response = staff_client.get(admin_url(model, "change", theirs[model].pk))
        assert (response.status_code, response.url) == (302, "/admin/"), model  # as if it did not exist


@pytest.mark.django_db
def test_the_organization_filter_offers_only_the_staff_members_organizations(staff, staff_client, both, tenant,
                                                                             other_tenant):
    second = Organization.objects.create(pk="org_second0000000001")
    Membership.objects.create(user=staff, organization=second)
    for model in (WebhookEndpoint, Delivery):
        html = staff_client.get(admin_url(model, "changelist")).content.decode()
        assert f"organization__id__exact={tenant.organization.pk}" in html
        assert f"organization__id__exact={second.pk}" in html
        assert other_tenant.organization.pk not in html


@pytest.mark.django_db
def test_an_endpoint_made_in_the_admin_shows_its_secret_once(staff_client, tenant):
    page = staff_client.get(admin_url(WebhookEndpoint, "add"))
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {"name", "organization", "url", "events", "is_active"}
    response = staff_client.post(admin_url(WebhookEndpoint, "add"), {
        "name": "CRM", "organization": tenant.organization.pk, "url": URL,
        "events": ["live_flow_session.status_changed", "message_flow.updated"], "is_active": "on",
    }, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.name, endpoint.organization_id, endpoint.events) == (
        "CRM", tenant.organization.pk, ["live_flow_session.status_changed", "message_flow.updated"]
    )
    (message,) = [m for m in messages_of(response) if "signing secret" in m]
    assert re.search(r"whsec_\S+", message).group() == endpoint.secret
    page = staff_client.get(admin_url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    assert endpoint.secret not in page
    assert endpoint.secret_hint in page


@pytest.mark.django_db
def test_the_admin_refuses_private_targets_unknown_events_and_other_organizations(
    staff_client, tenant, other_tenant, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = False

    def post(**fields):
        data = {"name": "", "organization": tenant.organization.pk, "url": URL, "events": ["chat.message_created"],
                "is_active": "on", **fields}
        response = staff_client.post(admin_url(WebhookEndpoint, "add"), data)
        assert response.status_code == 200  # the form again, with its errors
        return response.context["adminform"].form.errors

    assert post(url="http://169.254.169.254/latest")["url"] == [
        "169.254.169.254 is a link-local address: webhooks go to public addresses only "
        "(set FLOWDESK_WEBHOOK_ALLOW_PRIVATE=true to allow private targets)."
    ]
    assert "Select a valid choice" in post(events=["nope.happened"])["events"][0]
    assert post(events=[])["events"] == ["This field is required."]
    assert "Select a valid choice" in post(organization=other_tenant.organization.pk)["organization"][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_rolling_a_secret_shows_the_new_one_once(staff_client, both):
    mine, _ = both["mine"]
    theirs, _ = both["theirs"]
    old, their_old = mine.secret, theirs.secret
    response = staff_client.post(admin_url(WebhookEndpoint, "changelist"), {
        "action": "roll_secrets", "_selected_action": [mine.pk, theirs.pk],
    }, follow=True)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.secret != old and theirs.secret == their_old  # another organization's is out of reach
    assert [m for m in messages_of(response) if mine.secret in m]


@pytest.mark.django_db(transaction=True)
def test_redeliver_sends_a_failed_delivery_again_and_logs_the_new_attempt(staff_client, tenant, other_tenant, receiver):
    endpoint = endpoint_for(tenant.organization, receiver.url)
    failed = delivery_for(endpoint, attempts=2)
    pending = delivery_for(endpoint, state=DeliveryState.PENDING, attempts=0)  # held by no one, due never
    theirs = delivery_for(endpoint_for(other_tenant.organization, receiver.url))

    response = staff_client.post(admin_url(Delivery, "changelist"), {
        "action": "redeliver_selected", "_selected_action": [failed.pk, pending.pk, theirs.pk],
    }, follow=True)
    assert "Queued 1 delivery again (1 still pending, left on their way)." in messages_of(response)
    receiver.wait_for(1)
    settle()
    assert receiver.requests[0][0]["X-Flowdesk-Delivery"] == failed.pk
    failed.refresh_from_db()
    assert (failed.state, failed.attempts_count, failed.last_status_code) == (DeliveryState.DELIVERED, 3, 200)
    assert [a.status_code for a in failed.attempts.order_by("number")] == [500, 500, 200]
    theirs.refresh_from_db()
    assert theirs.state == DeliveryState.FAILED and theirs.attempts.count() == 1
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_deliveries_and_attempts_are_read_only(staff_client, both):
    _, delivery = both["mine"]
    page = staff_client.get(admin_url(Delivery, "change", delivery.pk))
    assert page.context["adminform"].form.fields == {}  # every field read-only
    assert "HTTP 500 Internal Server Error" in page.content.decode()  # the log, inline
    assert staff_client.get(admin_url(Delivery, "add")).status_code == 403
    assert staff_client.get(admin_url(DeliveryAttempt, "add")).status_code == 403
    attempt = delivery.attempts.get()
    assert staff_client.get(admin_url(DeliveryAttempt, "change", attempt.pk)).context["adminform"].form.fields == {}


# Superuser, per changelist: 1 the login session, 2 the user, 3 the organization filter's choices
# (endpoints and deliveries), 4 the count (deliveries and attempts: at most 10,001 rows), 5 the page
# of rows (related columns joined, the failed count a correlated subquery), 6 MIN/MAX of the date
# hierarchy (deliveries and attempts). The event and answer filters are fixed lists: no query.
# A staff member adds 2 (their user and group permissions); the organization scope is a subquery.
CHANGELIST_QUERIES = {WebhookEndpoint: 5, Delivery: 6, DeliveryAttempt: 5}


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(CHANGELIST_QUERIES), ids=lambda m: m.__name__)
def test_changelists_run_a_fixed_number_of_queries(model, superuser_client, staff_client, tenant, both,
                                                   django_assert_num_queries):
    for client, extra in ((superuser_client, 0), (staff_client, 2)):
        for rows in (0, 12):
            for i in range(rows):
                endpoint = endpoint_for(tenant.organization, URL, name=f"e{i}")
                delivery_for(endpoint, attempts=2, at=timezone.now() - timedelta(minutes=i))
            with django_assert_num_queries(CHANGELIST_QUERIES[model] + extra):
                response = client.get(admin_url(model, "changelist"))
            assert response.status_code == 200


# 1 the login session, 2 the user, 3 the delivery with its endpoint and organization, 4 its attempts.
DELIVERY_PAGE_QUERIES = 4


@pytest.mark.django_db
def test_a_deliverys_page_runs_a_fixed_number_of_queries_whatever_its_attempts(superuser_client, tenant,
                                                                             django_assert_num_queries):
    few = delivery_for(endpoint_for(tenant.organization, URL), attempts=1)
    many = delivery_for(endpoint_for(tenant.organization, URL), attempts=20)
    superuser_client.get(admin_url(Delivery, "change", few.pk))  # per-process caches (content types) warm
    for delivery, attempts in ((few, 1), (many, 20)):
        with django_assert_num_queries(DELIVERY_PAGE_QUERIES):
            response = superuser_client.get(admin_url(Delivery, "change", delivery.pk))
        assert response.status_code == 200
        assert response.content.decode().count("HTTP 500 Internal Server Error") == attempts


@pytest.mark.django_db
def test_deleting_an_endpoint_counts_its_log_instead_of_listing_it(staff_client, both, django_assert_max_num_queries):
    endpoint, _ = both["mine"]
    for i in range(30):
        delivery_for(endpoint, attempts=2, at=timezone.now() - timedelta(seconds=i))
    with django_assert_max_num_queries(10):
        page = staff_client.get(admin_url(WebhookEndpoint, "delete", endpoint.pk))
    assert dict(page.context["model_count"]) == {"webhook endpoints": 1, "deliveries": 31, "delivery attempts": 61}
    response = staff_client.post(admin_url(WebhookEndpoint, "delete", endpoint.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Delivery.objects.filter(endpoint_id=endpoint.pk).exists()
    assert Delivery.objects.filter(endpoint=both["theirs"][0]).count() == 1
