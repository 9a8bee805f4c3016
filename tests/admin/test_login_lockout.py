"""The admin login refuses a username, or a client address, after repeated wrong passwords."""

import logging
from datetime import timedelta

import pytest
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

LOGIN = "/admin/login/"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("olga", password="right-password-1", is_staff=True)


@pytest.fixture(autouse=True)
def _fresh_handler():
    # axes keeps the handler it loaded; tests that change AXES_HANDLER need it read again.
    AxesProxyHandler.implementation = None
    yield
    AxesProxyHandler.implementation = None


def login(username, password, address="10.0.0.1", **extra):
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra)
    return client, response


def logged_in(client):
    return client.get("/admin/").status_code == 200


def test_right_password_after_five_wrong_ones_is_refused(staff, caplog):
    for _ in range(4):
        assert login("olga", "wrong")[1].status_code == 200  # the form again, with its error
    with caplog.at_level(logging.WARNING, logger="flowdesk.security"):
        assert login("olga", "wrong")[1].status_code == 429
    assert "Admin login locked out after 5 failures: username='olga' address=10.0.0.1" in caplog.text
    client, response = login("olga", "right-password-1")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed login attempts (5) for this username or from this address." in page
    assert "An administrator can lift the lock at once." in page
    assert not logged_in(client)
    # Another address does not help: the username itself is locked.
    assert login("olga", "right-password-1", address="10.9.9.9")[1].status_code == 429


def test_one_address_trying_many_usernames_is_locked(staff):
    for n in range(5):
        login(f"guess{n}", "wrong", address="10.0.0.7")
    assert login("olga", "right-password-1", address="10.0.0.7")[1].status_code == 429
    client, response = login("olga", "right-password-1", address="10.0.0.8")
    assert response.status_code == 302 and logged_in(client)


def test_a_success_resets_the_count(staff):
    for _ in range(4):
        login("olga", "wrong")
    client, response = login("olga", "right-password-1")
    assert response.status_code == 302 and logged_in(client)
    for _ in range(4):
        login("olga", "wrong")
    client, response = login("olga", "right-password-1")
    assert response.status_code == 302 and logged_in(client)


@pytest.mark.skipif(not settings.AXES_HANDLER.endswith("AxesDatabaseHandler"),
                    reason="with REDIS_URL the lock is a Redis key that expires by its own TTL, in real time")
def test_the_lock_expires(staff):
    for _ in range(5):
        login("olga", "wrong")
    assert login("olga", "right-password-1")[1].status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16))
    client, response = login("olga", "right-password-1")
    assert response.status_code == 302 and logged_in(client)


def test_an_operator_lifts_the_lock(staff):
    for _ in range(5):
        login("olga", "wrong")
    call_command("axes_reset_username", "olga")
    call_command("axes_reset_ip", "10.0.0.1")
    client, response = login("olga", "right-password-1")
    assert response.status_code == 302 and logged_in(client)


def test_behind_a_proxy_the_forwarded_address_counts(staff, settings):
    settings.FLOWDESK_PROXY_COUNT = 1
    for n in range(5):
        login(f"guess{n}", "wrong", address="192.0.2.1", HTTP_X_FORWARDED_FOR="spoofed, 10.1.1.1")
    # Same proxy, another client behind it: not locked.
    client, response = login("olga", "right-password-1", address="192.0.2.1", HTTP_X_FORWARDED_FOR="10.2.2.2")
    assert response.status_code == 302 and logged_in(client)
    assert login("olga", "right-password-1", address="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.1.1")[1].status_code == 429


def test_api_keys_are_not_affected(staff, tenant):
    for _ in range(5):
        login("alice", "wrong", address="127.0.0.1")
    response = tenant.client.get("/session", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200


@pytest.mark.postgres
def test_counts_are_shared_through_redis_when_configured(staff, settings):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = {
        **settings.CACHES,
        "axes": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0",
                 "KEY_PREFIX": "flowdesk-test-axes"},
    }
    settings.AXES_CACHE = "axes"
    settings.AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
    from django.core.cache import caches

    caches["axes"].clear()
    try:
        for _ in range(5):
            login("olga", "wrong")
        assert not AccessAttempt.objects.exists()
        assert login("olga", "right-password-1")[1].status_code == 429
        call_command("axes_reset_username", "olga")
        call_command("axes_reset_ip", "10.0.0.1")
        assert login("olga", "right-password-1")[1].status_code == 302
    finally:
        caches["axes"].clear()
