"""add_webhook, list_webhooks, remove_webhook: what an operator types and reads."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.webhooks.conftest import endpoint_for
from webhooks.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def add(*args):
    return run("add_webhook", *args)


def test_add_webhook_creates_the_endpoint_and_prints_its_secret_last(tenant):
    out, err = add("--org", tenant.organization.pk, "--url", "https://93.184.216.34/hooks",
                   "--events", "live_flow_session.status_changed, chat.message_created,chat.message_created",
                   "--name", "CRM")
    endpoint = WebhookEndpoint.objects.get()
    assert out.splitlines()[-1] == endpoint.secret
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    assert (endpoint.organization_id, endpoint.url, endpoint.name, endpoint.is_active) == (
        tenant.organization.pk, "https://93.184.216.34/hooks", "CRM", True
    )
    assert endpoint.events == ["live_flow_session.status_changed", "chat.message_created"]
    assert endpoint.pk in err and endpoint.secret not in err

    out2, _ = add("--org", tenant.organization.pk, "--url", "https://93.184.216.34/other", "--events",
                  "message_flow.updated")
    assert out2.splitlines()[-1] != out.splitlines()[-1]  # a secret of its own


def test_a_public_address_is_accepted_without_the_setting(tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    out, _ = add("--org", tenant.organization.pk, "--url", "http://93.184.216.34:8080/in",
                 "--events", "user_session.updated")
    assert WebhookEndpoint.objects.get().secret == out.splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "org_nope"], "--org: there is no organization 'org_nope'."),
        (["--url", "not a url"], "--url: 'not a url' is not an http:// or https:// URL."),
        (["--url", "ftp://93.184.216.34/x"], "--url: 'ftp://93.184.216.34/x' is not an http:// or https:// URL."),
        (["--url", "https://user:pw@93.184.216.34/x"],
         "--url: Put no user name or password in the URL; the signature authenticates Flowdesk."),
        (["--events", "chat.message_created,nope.happened"],
         "--events: unknown event type 'nope.happened'; known: live_flow_session.status_changed, "
         "chat.message_created, user_session.updated, message_flow.updated."),
        (["--events", ""], "--events: name event types separated by commas"),
        (["--events", "chat.message_created,,"], "--events: name event types separated by commas"),
        (["--name", "x" * 201], "--name: at most 200 characters."),
    ],
)
def test_bad_input_names_its_flag_and_writes_nothing(tenant, args, message):
    flags = {"--org": tenant.organization.pk, "--url": "https://93.184.216.34/hooks", "--events": "chat.message_created"}
    flags.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError) as raised:
        add(*[item for pair in flags.items() for item in pair])
    assert str(raised.value).startswith(message)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost/hook", "localhost (127.0.0.1) is a loopback address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1 is a loopback address"),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("http://192.168.0.10/hook", "192.168.0.10 is a private address"),
        ("http://172.16.5.4/hook", "172.16.5.4 is a private address"),
        ("http://[fd00::1]/hook", "fd00::1 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://0.0.0.0/hook", "0.0.0.0 is an unspecified address"),
        ("http://100.64.0.1/hook", "100.64.0.1 is not a public address"),
        ("http://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
    ],
)
def test_private_and_loopback_targets_are_refused_without_the_setting(tenant, settings, url, shown):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(CommandError) as raised:
        add("--org", tenant.organization.pk, "--url", url, "--events", "chat.message_created")
    assert str(raised.value) == (
        f"--url: {shown}: webhooks go to public addresses only "
        "(set FLOWDESK_WEBHOOK_ALLOW_PRIVATE=true to allow private targets)."
    )
    assert not WebhookEndpoint.objects.exists()


def test_a_host_that_does_not_resolve_is_refused(tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(CommandError, match=r"^--url: The host nowhere\.invalid does not resolve"):
        add("--org", tenant.organization.pk, "--url", "https://nowhere.invalid/x", "--events", "chat.message_created")


def test_private_targets_are_accepted_with_the_setting(tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    add("--org", tenant.organization.pk, "--url", "http://127.0.0.1:9/hook", "--events", "chat.message_created")
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:9/hook"


def test_help_names_every_event():
    from webhooks.management.commands.add_webhook import Command

    out = Command().create_parser("manage.py", "add_webhook").format_help()
    for name in ("--org", "--url", "--events", "--name", "live_flow_session.status_changed", "message_flow.updated",
                 "FLOWDESK_WEBHOOK_ALLOW_PRIVATE", "last line"):
        assert name in " ".join(out.split()), name


def test_list_and_remove(tenant, other_tenant):
    mine = endpoint_for(tenant.organization, "https://93.184.216.34/a", name="CRM")
    theirs = endpoint_for(other_tenant.organization, "https://93.184.216.34/b", events=["chat.message_created"],
                          is_active=False)
    Delivery.objects.create(endpoint=mine, organization=tenant.organization, event_type="x", event_id="evt_1", body="{}")

    out, _ = run("list_webhooks")
    assert out.splitlines() == sorted([
        f"{mine.pk}\t{tenant.organization.pk}\tactive\tlive_flow_session.status_changed\thttps://93.184.216.34/a (CRM)",
        f"{theirs.pk}\t{other_tenant.organization.pk}\tinactive\tchat.message_created\thttps://93.184.216.34/b",
    ], key=lambda line: line.split("\t")[1])
    assert mine.secret not in out and theirs.secret not in out
    out, _ = run("list_webhooks", "--org", other_tenant.organization.pk)
    assert out.splitlines() == [out.splitlines()[0]] and theirs.pk in out

    with pytest.raises(CommandError, match=f"^endpoint: there is no webhook endpoint '{mine.pk}' in organization"):
        run("remove_webhook", mine.pk, "--org", other_tenant.organization.pk)
    out, _ = run("remove_webhook", mine.pk)
    assert out.strip() == f"Removed webhook endpoint {mine.pk}."
    assert list(WebhookEndpoint.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert not Delivery.objects.exists()
    with pytest.raises(CommandError, match="^endpoint: there is no webhook endpoint 'wh_nope'"):
        run("remove_webhook", "wh_nope")


def test_deliver_webhooks_checks_its_limit():
    with pytest.raises(CommandError, match="--limit must be 1 or more"):
        run("deliver_webhooks", "--limit", "0")


def test_prune_deletes_old_finished_deliveries_and_their_attempts(tenant):
    from datetime import timedelta

    from django.utils import timezone

    from webhooks.models import DeliveryAttempt, DeliveryState

    endpoint = endpoint_for(tenant.organization, "https://93.184.216.34/a")
    now = timezone.now()

    def delivery(state, days):
        made = Delivery.objects.create(endpoint=endpoint, organization=tenant.organization, event_type="x",
                                       event_id="evt", body="{}", state=state, created_at=now - timedelta(days=days))
        DeliveryAttempt.objects.create(delivery=made, number=1, url=endpoint.url, status_code=500)
        return made

    old_done, old_failed = delivery(DeliveryState.DELIVERED, 40), delivery(DeliveryState.FAILED, 31)
    old_pending, recent = delivery(DeliveryState.PENDING, 90), delivery(DeliveryState.DELIVERED, 2)
    out, _ = run("prune_webhook_deliveries")
    assert out.strip() == "Deleted 2 deliveries and 2 attempts"
    assert set(Delivery.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}
    assert set(DeliveryAttempt.objects.values_list("delivery_id", flat=True)) == {old_pending.pk, recent.pk}
    assert not Delivery.objects.filter(pk__in=[old_done.pk, old_failed.pk]).exists()
    with pytest.raises(CommandError, match="--days must be 1 or more"):
        run("prune_webhook_deliveries", "--days", "0")
