"""Database round trips of an authenticated read, counted as production makes them.

The request goes through Django's WSGI handler with its request signals (the test client leaves
out the one that manages persistent connections), and every statement psycopg sends is counted,
Django's connection health check included.
"""

import io

import orjson
import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def served_get(path, headers, method="GET", body=b""):
    path, _, query = path.partition("?")
    environ = RequestFactory()._base_environ(PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=method, **headers)
    environ["wsgi.input"] = io.BytesIO(body)
    if body:
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    body = b"".join(WSGIHandler()(environ, start_response))
    return answer["status"], body


@pytest.fixture
def statements(monkeypatch):
    """Each round trip psycopg makes: a statement, or a pipeline's statements (sent together) as a list."""
    sent = []
    execute = psycopg.Cursor.execute

    def counted(self, query, *args, **kwargs):
        text = query if isinstance(query, str) else repr(query)
        if self.connection._pipeline is not None:  # psycopg's pipeline mode: answered together at its end
            if not sent or not isinstance(sent[-1], list) or sent[-1] is not self.connection._flowdesk_trip:
                self.connection._flowdesk_trip = []
                sent.append(self.connection._flowdesk_trip)
            sent[-1].append(text)
        else:
            sent.append(text)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    return sent


def test_an_authenticated_read_makes_two_round_trips(tenant, statements):
    from messaging.models import Agent, MessageFlow

    agent = Agent.objects.create(workspace=tenant.workspace, agent_id="agent_1")
    flow = MessageFlow.objects.create(
        workspace=tenant.workspace, agent=agent, name="Welcome", direction="outbound", prompt="Hi",
        message_channel="sms",
    )
    headers = {"HTTP_API_KEY": tenant.raw_key, "HTTP_X_WORKSPACE_ID": tenant.workspace.pk}
    for path in ("/v1/api/message-flows", f"/v1/api/message-flows/{flow.pk}"):
        assert served_get(path, headers)[0] == 200  # the worker's connection is open from here on
        for _ in range(2):
            before = len(statements)
            status, _ = served_get(path, headers)
            assert status == 200
            # The key with its membership and tenant, then the page: no health check in between.
            assert len(statements) - before == 2, statements[before:]


def test_a_list_with_child_rows_makes_two_round_trips(tenant, statements):
    # A page of user sessions and their dialogue items and audio clips: the key, then the three
    # statements in one pipeline, in one snapshot.
    for n in range(3):
        session_id = tenant.client.post("/session/new").json()["sessionId"]
        tenant.client.post(f"/session/{session_id}/dialogue", {"contentType": "user", "isUser": True,
                                                               "content": f"hello {n}"}, format="json")
    expected = tenant.client.get("/session?limit=2").json()
    assert [body["dialogue"][-1]["content"] for body in expected] == ["hello 2", "hello 1"]
    headers = {"HTTP_API_KEY": tenant.raw_key}
    assert served_get("/session?limit=2", headers)[0] == 200
    before = len(statements)
    status, body = served_get("/session?limit=2", headers)
    assert status == 200 and orjson.loads(body) == expected
    trips = statements[before:]
    assert len(trips) == 2, trips
    assert isinstance(trips[1], list) and len(trips[1]) == 5, trips[1]  # BEGIN, 3 SELECTs, COMMIT
    assert trips[1][0] == "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" and trips[1][-1] == "COMMIT"


def test_statements_sent_together_read_as_the_orm_reads_them(tenant):
    from flowdesk.db.pipeline import fetch_together
    from sessions_app.api.serializers.rendering import sessions_data
    from sessions_app.models import DialogueItem, UserSession

    for n in range(3):
        session_id = tenant.client.post("/session/new").json()["sessionId"]
        tenant.client.post(f"/session/{session_id}/dialogue", {"contentType": "user", "isUser": True,
                                                               "content": [{"x": n}]}, format="json")
    sessions = UserSession.objects.order_by("-updated_at", "-id")
    querysets = [sessions.values_list("pk", "uuid", "created_at", "clients"),
                 DialogueItem.objects.filter(session__in=sessions[:2].values("pk")).order_by("pk")
                 .values_list("session_id", "content", "is_user"),
                 UserSession.objects.filter(pk__in=[]).values_list("pk")]
    together = fetch_together(*querysets)
    assert together == [list(queryset) for queryset in querysets]
    assert len(together[1]) == 2 and together[2] == []
    # The list's bodies, sent together, equal the one-by-one rendering of each session.
    from sessions_app.api.serializers.rendering import session_data

    assert sessions_data(sessions[:3]) == [session_data(s) for s in sessions.with_children()[:3]]


def test_a_live_flows_sessions_make_two_round_trips(tenant, statements):
    # The key, then the page with its versions' steps and transitions, its recorded steps and the
    # look for the live flow in the path (inside the tenant), together.
    from tests.flows.factories import make_live_flow, make_session

    live_flow = make_live_flow(tenant.organization)
    for _ in range(3):
        make_session(live_flow, n_recorded=2)
    path = f"/live_flows/{live_flow.pk}/sessions?limit=2"
    expected = tenant.client.get(path).json()
    assert len(expected) == 2 and all(len(body["steps"]) == 2 for body in expected)
    assert all(len(body["flow_version"]["steps"]) == 3 for body in expected)
    headers = {"HTTP_API_KEY": tenant.raw_key}
    assert served_get(path, headers)[0] == 200
    before = len(statements)
    status, body = served_get(path, headers)
    assert status == 200 and orjson.loads(body) == expected
    trips = statements[before:]
    assert len(trips) == 2, trips
    assert isinstance(trips[1], list) and len(trips[1]) == 7, trips[1]  # BEGIN, 5 SELECTs, COMMIT


def test_one_live_flow_session_is_three_round_trips_and_starting_one_writes_each_row_once(
    tenant, statements, monkeypatch
):
    from flows import runner
    from flows.models import LiveFlowSession
    from tests.flows.factories import make_live_flow, make_session

    live_flow = make_live_flow(tenant.organization)
    session = make_session(live_flow, n_recorded=2)
    headers = {"HTTP_API_KEY": tenant.raw_key}
    path = f"/live_flows/{live_flow.pk}/sessions/{session.pk}"
    listed = tenant.client.get(f"/live_flows/{live_flow.pk}/sessions?limit=5").json()
    assert served_get(path, headers)[0] == 200
    before = len(statements)
    status, body = served_get(path, headers)
    assert (status, orjson.loads(body)) == (200, listed[0])
    # The key, the live flow in the path, then the session with its tree in one pipeline.
    trips = statements[before:]
    assert len(trips) == 3 and isinstance(trips[2], list), trips

    start = f"/live_flows/{live_flow.pk}/sessions"
    dispatched = []  # the worker's statements are not the request's
    monkeypatch.setattr(runner, "dispatch", dispatched.append)
    assert served_get(start, headers, "POST", b'{"inputs": {}}')[0] == 200
    before = len(statements)
    status, body = served_get(start, headers, "POST", b'{"inputs": {"n": 1}}')
    assert status == 200 and orjson.loads(body)["status"] == "NEW"
    trips = [trip if isinstance(trip, list) else trip.split()[0] for trip in statements[before:]]
    # The key, the live flow, its START step; the session and its first step inserted, one new
    # revision; the answer in one pipeline; after the commit, the webhook endpoints' look (nothing
    # listens). BEGIN and COMMIT are psycopg's own, not counted here.
    assert [t if isinstance(t, str) else "PIPELINE" for t in trips] == [
        "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "INSERT", "PIPELINE", "SELECT",
    ], statements[before:]
    assert LiveFlowSession.objects.get(pk=orjson.loads(body)["id"]).revision == 1
    assert len(dispatched) == 2


def test_another_tenants_live_flow_is_a_404_with_nothing_of_its_page(tenant, other_tenant, statements):
    from tests.flows.factories import make_live_flow, make_session

    live_flow = make_live_flow(tenant.organization)
    make_session(live_flow, n_recorded=1)
    status, body = served_get(f"/live_flows/{live_flow.pk}/sessions?limit=5", {"HTTP_API_KEY": other_tenant.raw_key})
    assert (status, orjson.loads(body)) == (404, {"detail": "Not found."})
    assert isinstance(statements[-1], list)  # looked up with the page (sent together), and the page not answered


def test_on_the_wire_each_list_is_two_round_trips(tenant):
    # Counted where they happen: a proxy between gunicorn and PostgreSQL counts each turn of the
    # conversation (the client sends after it last received), as bench/served.py does.
    import http.client

    from bench.served import CountingProxy, host_port, with_port
    from tests.flows.factories import make_live_flow, make_session
    from tests.served import Gunicorn, database_url

    live_flow = make_live_flow(tenant.organization)
    for _ in range(3):
        make_session(live_flow, n_recorded=2)
        tenant.client.post("/session/new")
    url = database_url()
    proxy = CountingProxy(host_port(url, 5432), "pg")
    server = Gunicorn(with_port(url, proxy.port, "?sslmode=disable&gssencmode=disable"))
    try:
        for path in (f"/live_flows/{live_flow.pk}/sessions?limit=2", "/session?limit=2"):
            def get(path=path):
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
                connection.request("GET", path, headers={"Api-key": tenant.raw_key})
                response = connection.getresponse()
                assert response.status == 200, response.read()
                return response.read()

            for _ in range(6):  # the worker's connection open, psycopg's statements prepared
                get()
            before = proxy.counts()[0]
            for _ in range(5):
                get()
            assert (proxy.counts()[0] - before) / 5 == 2, path
    finally:
        server.stop()
        proxy.close()


def test_a_statement_failing_in_a_pipeline_is_djangos_error_and_the_connection_goes_on(tenant):
    from django.db import DataError
    from django.db.models import ExpressionWrapper, IntegerField, Value

    from flowdesk.db.pipeline import fetch_together
    from sessions_app.models import UserSession

    tenant.client.post("/session/new")
    sessions = UserSession.objects.all()
    broken = sessions.annotate(x=ExpressionWrapper(Value(1) / Value(0), output_field=IntegerField())).values_list("x")
    with pytest.raises(DataError):
        fetch_together(sessions.values_list("pk"), broken)
    assert fetch_together(sessions.values_list("session_id"), sessions.values_list("language")) == [
        list(sessions.values_list("session_id")), [("en",)]]


def test_in_a_transaction_they_are_its_statements_and_a_failure_rolls_back_only_that_transaction(tenant, statements):
    from django.db import DataError, transaction
    from django.db.models import ExpressionWrapper, IntegerField, Value

    from flowdesk.db.pipeline import fetch_together
    from sessions_app.models import UserSession

    tenant.client.post("/session/new")
    sessions = UserSession.objects.all()
    with transaction.atomic():
        UserSession.objects.update(language="ja")
        before = len(statements)
        # Sent together, and they see the transaction's own change.
        assert fetch_together(sessions.values_list("language"), sessions.values_list("session_id")) == [
            [("ja",)], list(sessions.values_list("session_id"))]
        assert isinstance(statements[before], list) and len(statements[before]) == 2
    broken = sessions.annotate(x=ExpressionWrapper(Value(1) / Value(0), output_field=IntegerField())).values_list("x")
    with pytest.raises(DataError), transaction.atomic():
        UserSession.objects.update(language="fr")
        fetch_together(sessions.values_list("pk"), broken)
    assert list(sessions.values_list("language", flat=True)) == ["ja"]
