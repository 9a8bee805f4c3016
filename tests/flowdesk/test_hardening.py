"""Hardening: HTTPS switch and secret key, header limits, the database going away."""

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.factories import make_live_flow
from tests.served import Gunicorn, TcpProxy, database_url

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"


def manage(*args, **env):
    environment = {**os.environ, "SECRET_KEY": GOOD_KEY, **env}
    environment.pop("DEBUG", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=environment,
    )


# --- HTTPS and the secret key ------------------------------------------------------------------

def test_https_switch_makes_the_deploy_check_pass():
    without = manage("check", "--deploy", "--fail-level", "WARNING")
    assert without.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in without.stderr
    switched = manage("check", "--deploy", "--fail-level", "WARNING", FLOWDESK_HTTPS="true")
    assert switched.returncode == 0, switched.stderr


def test_https_switch_settings():
    code = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS)"
    )
    on = manage("shell", "-c", code, FLOWDESK_HTTPS="true", FLOWDESK_HSTS_SECONDS="600")
    assert on.stdout.strip().split("\n")[-1] == "True True True ('HTTP_X_FORWARDED_PROTO', 'https') 600", on.stderr
    off = manage("shell", "-c", code)
    assert off.stdout.strip().split("\n")[-1] == "False False False None 0", off.stderr
    bad = manage("check", FLOWDESK_HTTPS="maybe")
    assert bad.returncode != 0 and "FLOWDESK_HTTPS" in bad.stderr


def test_login_failures_are_counted_in_redis_when_it_is_set():
    # Every process and machine then shares the counts: axes' cache is the Redis one.
    code = "from django.conf import settings as s; from axes.helpers import get_cache; print(s.AXES_HANDLER, type(get_cache()))"
    with_redis = manage("shell", "-c", code, REDIS_URL="redis://127.0.0.1:6379/13")
    assert with_redis.stdout.split("\n")[-2] == (
        "axes.handlers.cache.AxesCacheHandler <class 'django.core.cache.backends.redis.RedisCache'>"), with_redis.stderr
    without = manage("shell", "-c", "from django.conf import settings as s; print(s.AXES_HANDLER)", REDIS_URL="")
    assert without.stdout.split("\n")[-2] == "axes.handlers.database.AxesDatabaseHandler", without.stderr


@pytest.mark.parametrize("key", ["s" * 49 + "x", "ab" * 40, "django-insecure-" + GOOD_KEY])
def test_weak_secret_key_stops_start_up_naming_it(key):
    result = manage("check", SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 50 characters long with at least 5 distinct characters" in result.stderr


def test_good_secret_key_is_accepted():
    assert manage("check", SECRET_KEY=GOOD_KEY).returncode == 0


# --- header limits -------------------------------------------------------------------------------

LONG = {"HTTP_X_TRACE": "t" * 9000}


def test_long_header_is_refused_in_each_familys_body(tenant):
    live_flow = make_live_flow(tenant.organization)
    answers = {
        "live_flows": tenant.client.get(f"/live_flows/{live_flow.pk}/sessions", **LONG),
        "user_sessions": tenant.client.get("/session", **LONG),
        "workflow_chat": tenant.client.get("/v1/ai/workflow/chat/sessions", **LONG),
        "message_flows": tenant.client.get("/v1/api/message-flows", HTTP_X_WORKSPACE_ID=tenant.workspace.pk, **LONG),
    }
    message = "Request header X-Trace is longer than 8192 bytes."
    for family, response in answers.items():
        assert response["X-Request-Id"].startswith("req_"), family
    assert answers["live_flows"].status_code == 431
    assert answers["live_flows"].json() == {"detail": message}
    assert answers["user_sessions"].status_code == 400
    assert answers["user_sessions"].json() == {"error": {"message": message, "type": "BAD_REQUEST", "status": 400}}
    assert answers["workflow_chat"].status_code == 431
    assert answers["workflow_chat"].json() == {
        "code": 431, "message": message, "details": [], "requestId": answers["workflow_chat"]["X-Request-Id"],
    }
    assert answers["message_flows"].status_code == 431
    assert answers["message_flows"].json() == {"error": {"code": "header_too_large", "message": message}}


def test_headers_up_to_the_limit_pass_and_the_limit_is_a_setting(tenant, settings):
    live_flow = make_live_flow(tenant.organization)
    url = f"/live_flows/{live_flow.pk}/sessions"
    assert tenant.client.get(url, HTTP_X_TRACE="t" * (8192 - len("X_TRACE"))).status_code == 200
    assert tenant.client.get(url, HTTP_X_TRACE="t" * (8193 - len("X_TRACE"))).status_code == 431
    settings.FLOWDESK_MAX_HEADER_BYTES = 20000
    assert tenant.client.get(url, **LONG).status_code == 200


def test_too_many_headers_are_refused(tenant):
    extra = {f"HTTP_X_H{n}": "1" for n in range(101)}
    response = tenant.client.get("/v1/ai/workflow/chat/sessions", **extra)
    assert response.status_code == 431
    assert response.json()["message"] == "The request has more than 100 headers."


def test_long_header_outside_the_api_is_plain_text(client):
    response = client.get("/admin/login/", **LONG)
    assert response.status_code == 431
    assert response.content == b"Request header X-Trace is longer than 8192 bytes."


# --- served by gunicorn: long headers reach Flowdesk, the database going away is a 503 ---------------

def raw_get(base, path, headers):
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def served(transactional_db):
    from django.db import connection

    proxy = TcpProxy(int(connection.settings_dict["PORT"] or 5432))
    proxy.start()
    server = Gunicorn(database_url(port=proxy.port))
    yield server, proxy
    server.stop()
    proxy.stop()


@pytest.mark.postgres
def test_gunicorn_lets_long_headers_through_to_flowdesk(served, tenant):
    server, _ = served
    status, headers, body = raw_get(server.url, "/v1/ai/workflow/chat/sessions",
                                    {"Api-key": tenant.raw_key, "X-Trace": "t" * 20000})
    assert status == 431
    assert headers["X-Request-Id"].startswith("req_")
    assert json.loads(body)["message"] == "Request header X-Trace is longer than 8192 bytes."
    # Past gunicorn's default of 100 headers too: Flowdesk's own count refuses them.
    many = {"Api-key": tenant.raw_key, **{f"X-H{n}": "1" for n in range(101)}}
    status, headers, body = raw_get(server.url, "/v1/ai/workflow/chat/sessions", many)
    assert status == 431
    assert headers["X-Request-Id"].startswith("req_")
    assert json.loads(body)["message"] == "The request has more than 100 headers."


@pytest.mark.postgres
def test_database_going_away_is_a_503_with_retry_after_then_recovers(served, tenant):
    server, proxy = served
    live_flow = make_live_flow(tenant.organization)
    requests = {
        "live_flows": (f"/live_flows/{live_flow.pk}/sessions", {}),
        "user_sessions": ("/session", {}),
        "workflow_chat": ("/v1/ai/workflow/chat/sessions", {}),
        "message_flows": ("/v1/api/message-flows", {"x-workspace-id": tenant.workspace.pk}),
    }

    def get_all():
        return {
            family: raw_get(server.url, path, {"Api-key": tenant.raw_key, **headers})
            for family, (path, headers) in requests.items()
        }

    assert {family: answer[0] for family, answer in get_all().items()} == dict.fromkeys(requests, 200)
    proxy.stop()
    down = get_all()
    message = "The database is unavailable; try again shortly."
    for family, (_, headers, _body) in down.items():
        assert headers["Retry-After"] == "5", family
        assert headers["X-Request-Id"].startswith("req_"), family
    assert down["live_flows"][0] == 503 and json.loads(down["live_flows"][2]) == {"detail": message}
    # The vendor answers only 400, 401, 403, 404, 429 and 500: its clients know SERVER_ERROR.
    assert down["user_sessions"][0] == 500
    assert json.loads(down["user_sessions"][2]) == {"error": {"message": message, "type": "SERVER_ERROR", "status": 500}}
    assert down["workflow_chat"][0] == 503
    assert json.loads(down["workflow_chat"][2])["code"] == 503
    assert down["message_flows"][0] == 503
    assert json.loads(down["message_flows"][2]) == {"error": {"code": "service_unavailable", "message": message}}
    # The admin with a session cookie reads the session from the database: a plain-text 503 there.
    status, headers, body = raw_get(server.url, "/admin/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"})
    assert status == 503 and headers["Retry-After"] == "5"
    assert body == b"The database is unavailable; try again shortly."
    proxy.start()
    assert {family: answer[0] for family, answer in get_all().items()} == dict.fromkeys(requests, 200)
    assert "Traceback" not in server.output()  # refused in the family body, not a crash


@pytest.mark.postgres
def test_a_database_restart_costs_at_most_the_first_request_of_a_worker(served, tenant):
    # Persistent connections, no health check: the one connection the worker holds is reset by the
    # restart. The next request finds out (a 503 in the family body, not a crash) and the worker
    # reconnects for the one after.
    server, proxy = served
    path, headers = "/v1/api/message-flows", {"Api-key": tenant.raw_key, "x-workspace-id": tenant.workspace.pk}
    assert raw_get(server.url, path, headers)[0] == 200
    proxy.stop()
    proxy.start()
    statuses = [raw_get(server.url, path, headers)[0] for _ in range(6)]
    assert statuses[0] in (200, 503) and statuses[1:] == [200] * 5, statuses
    assert "Traceback" not in server.output()


def test_private_webhook_targets_are_refused_unless_allowed():
    # The tests allow them; a deployment does not, until it says so.
    code = "from django.conf import settings; print(settings.WEBHOOK_ALLOW_PRIVATE)"
    environment = {key: value for key, value in os.environ.items() if key != "FLOWDESK_WEBHOOK_ALLOW_PRIVATE"}
    unset = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={**environment, "SECRET_KEY": GOOD_KEY})
    assert unset.stdout.strip().splitlines()[-1] == "False", unset.stderr
    assert manage("shell", "-c", code, FLOWDESK_WEBHOOK_ALLOW_PRIVATE="true").stdout.strip().splitlines()[-1] == "True"
