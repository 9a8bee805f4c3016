"""Events reach the organization's endpoints as signed POSTs, through the embedded runner, with retries."""

import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime

import pytest
from django.core.management import call_command
from django.db import connections, transaction

from flowdesk import events
from tests.webhooks.conftest import BACKOFF, SESSION, endpoint_for, send_event, settle
from webhooks import delivery as delivery_module
from webhooks import runner
from webhooks.models import Delivery, DeliveryAttempt, DeliveryState

pytestmark = pytest.mark.django_db(transaction=True)


def only_delivery(endpoint):
    settle()
    (delivery,) = Delivery.objects.filter(endpoint=endpoint)
    return delivery


def attempts_of(delivery):
    return list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))


def test_a_delivery_is_a_signed_post_of_event_data_id_and_at(tenant, receiver):
    endpoint = endpoint_for(tenant.organization, receiver.url)
    event = send_event(tenant.organization.pk)

    ((headers, body, path),) = receiver.wait_for(1)
    delivery = only_delivery(endpoint)
    assert path == "/hooks/flowdesk?source=test"
    assert json.loads(body) == {
        "event": "live_flow_session.status_changed",
        "data": SESSION,
        "id": event.id,
        "at": event.at.isoformat().replace("+00:00", "Z"),
    }
    assert list(json.loads(body)) == ["event", "data", "id", "at"]
    at = json.loads(body)["at"]
    assert at.endswith("Z") and datetime.fromisoformat(at) == event.at
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Flowdesk-Event"] == "live_flow_session.status_changed"
    assert headers["X-Flowdesk-Delivery"] == delivery.pk
    # What a receiver does: HMAC-SHA256 of the raw body with the endpoint's secret.
    expected = hmac.new(endpoint.secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Flowdesk-Signature"], f"sha256={expected}")
    assert headers["X-Flowdesk-Signature"] != "sha256=" + hmac.new(b"another secret", body, hashlib.sha256).hexdigest()

    assert (delivery.state, delivery.attempts_count, delivery.last_status_code) == (DeliveryState.DELIVERED, 1, 200)
    assert delivery.body.encode() == body and delivery.event_id == event.id
    (attempt,) = attempts_of(delivery)
    assert (attempt.number, attempt.status_code, attempt.error, attempt.address) == (1, 200, "", "127.0.0.1")
    assert attempt.response_body == '{"received": true}'


def test_a_receiver_that_answers_500_first_gets_the_same_delivery_again(tenant, receiver_factory):
    receiver = receiver_factory(statuses=[500, 200])
    endpoint = endpoint_for(tenant.organization, receiver.url)
    send_event(tenant.organization.pk)

    (first, second) = receiver.wait_for(2)
    delivery = only_delivery(endpoint)
    assert first[1] == second[1]  # the same bytes...
    for name in ("X-Flowdesk-Signature", "X-Flowdesk-Delivery", "X-Flowdesk-Event"):
        assert first[0][name] == second[0][name]  # ...signed alike, under the same delivery id
    assert (delivery.state, delivery.attempts_count, delivery.last_status_code, delivery.last_error) == (
        DeliveryState.DELIVERED, 2, 200, ""
    )
    log = attempts_of(delivery)
    assert [(a.number, a.status_code, a.error) for a in log] == [
        (1, 500, "HTTP 500 Internal Server Error"), (2, 200, ""),
    ]
    assert (log[1].started_at - log[0].started_at).total_seconds() >= BACKOFF


def test_retries_back_off_and_end_in_failed(tenant, receiver_factory, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    receiver = receiver_factory(statuses=[503] * 10)
    endpoint = endpoint_for(tenant.organization, receiver.url)
    send_event(tenant.organization.pk)

    receiver.wait_for(4)
    delivery = only_delivery(endpoint)
    assert len(receiver.requests) == 4  # no fifth
    assert (delivery.state, delivery.attempts_count, delivery.attempts_left) == (DeliveryState.FAILED, 4, 0)
    assert delivery.next_attempt_at is None
    log = attempts_of(delivery)
    assert [a.status_code for a in log] == [503] * 4
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in zip(log, log[1:], strict=False)]
    for number, gap in enumerate(gaps, start=1):
        assert gap >= BACKOFF * 2 ** (number - 1)  # 0.05, 0.1, 0.2 s: doubling


def test_a_network_error_is_logged_and_retried(tenant, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    endpoint = endpoint_for(tenant.organization, f"http://127.0.0.1:{closed_port}/hook")
    send_event(tenant.organization.pk)

    delivery = only_delivery(endpoint)
    assert delivery.state == DeliveryState.FAILED
    log = attempts_of(delivery)
    assert [a.status_code for a in log] == [None, None]
    assert all("Connection refused" in a.error or "ConnectionRefusedError" in a.error for a in log), log[0].error


def test_a_private_target_is_refused_at_delivery_and_nothing_is_sent(tenant, receiver, settings):
    endpoint = endpoint_for(tenant.organization, receiver.url)  # allowed when it was made
    settings.WEBHOOK_ALLOW_PRIVATE = False
    send_event(tenant.organization.pk)

    delivery = only_delivery(endpoint)
    assert receiver.requests == []
    assert delivery.state == DeliveryState.FAILED  # sending again would be refused again
    (attempt,) = attempts_of(delivery)
    assert attempt.status_code is None
    assert attempt.error == (
        "127.0.0.1 is a loopback address: webhooks go to public addresses only "
        "(set FLOWDESK_WEBHOOK_ALLOW_PRIVATE=true to allow private targets)."
    )
    assert delivery.last_error == attempt.error


def test_a_host_name_is_checked_by_every_address_it_resolves_to(tenant, receiver, settings):
    endpoint = endpoint_for(tenant.organization, receiver.url.replace("127.0.0.1", "localhost"))
    settings.WEBHOOK_ALLOW_PRIVATE = False
    send_event(tenant.organization.pk)
    (attempt,) = attempts_of(only_delivery(endpoint))
    assert receiver.requests == []
    assert attempt.error.startswith("localhost (") and "is a loopback address" in attempt.error


def test_another_organizations_events_never_reach_an_endpoint(tenant, other_tenant, receiver_factory):
    mine, theirs = receiver_factory(), receiver_factory()
    my_endpoint = endpoint_for(tenant.organization, mine.url)
    their_endpoint = endpoint_for(other_tenant.organization, theirs.url)

    send_event(tenant.organization.pk)
    mine.wait_for(1)
    settle()
    assert theirs.requests == []
    assert not Delivery.objects.filter(endpoint=their_endpoint).exists()
    assert Delivery.objects.get(endpoint=my_endpoint).organization_id == tenant.organization.pk

    send_event(other_tenant.organization.pk)
    theirs.wait_for(1)
    settle()
    assert len(mine.requests) == 1


def test_only_active_endpoints_that_want_the_event_get_it(tenant, receiver_factory):
    wants, other_type, inactive = receiver_factory(), receiver_factory(), receiver_factory()
    endpoint_for(tenant.organization, wants.url, events=["chat.message_created", "user_session.updated"])
    endpoint_for(tenant.organization, other_type.url, events=["message_flow.updated"])
    endpoint_for(tenant.organization, inactive.url, events=["chat.message_created"], is_active=False)

    send_event(tenant.organization.pk, "chat.message_created", data={"id": "msg_1", "content": "Hi"})
    send_event(tenant.organization.pk, "thing.unknown", data={"id": 1})  # not a webhook event
    wants.wait_for(1)
    settle()
    assert json.loads(wants.requests[0][1])["data"] == {"id": "msg_1", "content": "Hi"}
    assert other_type.requests == [] and inactive.requests == []
    assert Delivery.objects.count() == 1


def test_published_events_are_delivered_after_commit_and_never_for_a_rollback(tenant, receiver):
    endpoint = endpoint_for(tenant.organization, receiver.url, events=["user_session.updated"])

    state = {}

    def publish(name):
        state["name"] = name  # render() shows the object as committed
        events.publish("user_session.updated", channel="user_session:abc", organization_id=tenant.organization.pk,
                       render=lambda: {"sessionId": "abc", "name": state["name"]})

    with pytest.raises(RuntimeError), transaction.atomic():
        publish("rolled back")
        raise RuntimeError
    with transaction.atomic():
        publish("first")
        publish("committed")
        assert not Delivery.objects.exists()  # nothing before the commit
    receiver.wait_for(1)
    settle()
    assert [json.loads(body)["data"]["name"] for _, body, _ in receiver.requests] == ["committed"]
    assert Delivery.objects.filter(endpoint=endpoint).count() == 1


def test_a_delivery_is_stored_before_it_is_sent_and_deliver_webhooks_sends_what_was_left(
    tenant, receiver, monkeypatch, capsys
):
    endpoint = endpoint_for(tenant.organization, receiver.url)
    monkeypatch.setattr(runner, "hand_off", lambda ids: None)  # the process dies before sending
    send_event(tenant.organization.pk)
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.state, delivery.attempts_count) == (DeliveryState.PENDING, 0)
    assert receiver.requests == []

    call_command("deliver_webhooks")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "1 due deliveries: delivered 1, to retry 0, failed 0"
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    call_command("deliver_webhooks")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "0 due deliveries: delivered 0, to retry 0, failed 0"
    assert len(receiver.requests) == 1


def test_deliver_webhooks_leaves_retries_that_are_not_due_yet(tenant, receiver_factory, settings, capsys):
    settings.WEBHOOK_RUNNER = "eager"
    settings.WEBHOOK_BACKOFF_SECONDS = 3600
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    receiver = receiver_factory(statuses=[500])
    endpoint = endpoint_for(tenant.organization, receiver.url)
    original = runner.deliver_until_settled
    runner.deliver_until_settled = delivery_module.attempt  # one attempt only, as a process that then stopped
    try:
        send_event(tenant.organization.pk)
    finally:
        runner.deliver_until_settled = original
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.state, delivery.attempts_count) == (DeliveryState.PENDING, 1)
    call_command("deliver_webhooks", "--dry-run")
    assert capsys.readouterr().out.strip() == "0 due deliveries; none sent (dry run)"
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)  # an hour later
    call_command("deliver_webhooks")
    assert capsys.readouterr().out.strip() == "1 due deliveries: delivered 1, to retry 0, failed 0"
    assert [a.status_code for a in attempts_of(delivery)] == [500, 200]


def test_the_eager_runner_delivers_inline_with_its_retries(tenant, receiver_factory, settings):
    settings.WEBHOOK_RUNNER = "eager"
    receiver = receiver_factory(statuses=[502])
    endpoint = endpoint_for(tenant.organization, receiver.url)
    send_event(tenant.organization.pk)
    assert len(receiver.requests) == 2  # done when dispatch returns
    assert Delivery.objects.get(endpoint=endpoint).state == DeliveryState.DELIVERED


def test_a_receivers_retry_after_is_honoured_within_the_cap(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    assert [delivery_module.backoff(n) for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 240, 480]
    assert delivery_module.backoff(1, retry_after=600) == 600
    assert delivery_module.backoff(1, retry_after=10) == 30
    assert delivery_module.backoff(12) == 3600
    assert delivery_module.backoff(1, retry_after=86400) == 3600


def test_the_celery_runner_sends_each_delivery_to_the_broker(tenant, receiver, settings, monkeypatch):
    from webhooks import tasks

    settings.WEBHOOK_RUNNER = "celery"
    sent = []
    monkeypatch.setattr(tasks.deliver_webhook, "delay", lambda delivery_id: sent.append(delivery_id))
    endpoint = endpoint_for(tenant.organization, receiver.url)
    send_event(tenant.organization.pk)
    assert sent == [Delivery.objects.get(endpoint=endpoint).pk]

    # The task: one attempt, then (the receiver failing) its retry sent with the back-off as countdown.
    receiver.statuses = [500]
    retries = []
    monkeypatch.setattr(tasks.deliver_webhook, "apply_async",
                        lambda args, countdown: retries.append((args, countdown)))
    assert tasks.deliver_webhook.run(sent[0]) == "retry"
    assert retries == [((sent[0],), BACKOFF)]
    assert tasks.deliver_webhook.run(sent[0]) == "not_due"  # a duplicate task sends nothing
    assert len(receiver.requests) == 1


def test_two_workers_handed_the_same_delivery_send_it_once(tenant, receiver_factory, monkeypatch):
    receiver = receiver_factory(delay=0.3)
    endpoint = endpoint_for(tenant.organization, receiver.url)
    monkeypatch.setattr(runner, "hand_off", lambda ids: None)
    send_event(tenant.organization.pk)
    delivery = Delivery.objects.get(endpoint=endpoint)

    outcomes = []

    def work():
        try:
            outcomes.append(delivery_module.attempt(delivery.pk).kind)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["busy", "delivered"]
    assert len(receiver.requests) == 1
    assert [a.status_code for a in attempts_of(delivery)] == [200]


def test_an_event_dispatched_from_async_code_is_delivered(tenant, receiver):
    import asyncio

    endpoint = endpoint_for(tenant.organization, receiver.url)

    async def handler():  # e.g. a socket handler that dispatches itself
        send_event(tenant.organization.pk)

    asyncio.run(handler())
    receiver.wait_for(1)
    for thread in [t for t in threading.enumerate() if t.name == "webhook-record"]:
        thread.join(10)
    assert only_delivery(endpoint).state == DeliveryState.DELIVERED


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for localhost (and 127.0.0.1)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_https_checks_the_certificate_against_the_host_name_at_the_checked_address(
    tenant, receiver_factory, certificate, settings, monkeypatch
):
    import ssl

    from webhooks import targets

    cert, key = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    receiver = receiver_factory(tls=server_side)
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    url = receiver.url.replace("127.0.0.1", "localhost")

    untrusted = endpoint_for(tenant.organization, url)
    send_event(tenant.organization.pk)
    (attempt,) = attempts_of(only_delivery(untrusted))
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error and attempt.status_code is None
    assert receiver.requests == []
    untrusted.delete()

    # Trusting the test certificate (as a system would trust a public CA): delivered, the name checked.
    default_context = ssl.create_default_context
    monkeypatch.setattr(targets.ssl, "create_default_context", lambda: default_context(cafile=str(cert)))
    trusted = endpoint_for(tenant.organization, url)
    send_event(tenant.organization.pk)
    (headers, _, _), = receiver.wait_for(1)
    assert headers["Host"] == f"localhost:{receiver.server.server_address[1]}"
    (attempt,) = attempts_of(only_delivery(trusted))
    assert (attempt.status_code, attempt.address) == (200, "127.0.0.1")
