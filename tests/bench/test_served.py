"""The served benchmark's pieces that time nothing: the floor's answers and the round-trip counting."""

import io

import orjson
import psycopg
import pytest
from django.db import connection
from django.test import Client

from accounts.models import ApiKey, Membership, Organization
from bench import floor_app, generate, served


def test_resp_commands_counts_whole_commands_only():
    pipelined = served.resp_commands  # SET NX EX and INCR in one write, as the throttle sends them
    buffer = b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n0\r\n$2\r\nNX\r\n$2\r\nEX\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n"
    assert pipelined(buffer) == (2, len(buffer))
    assert pipelined(buffer[:-3]) == (1, buffer.index(b"*2"))  # the second one is still arriving
    assert pipelined(b"PING\r\n") == (1, 6)


def test_pg_statements_skips_the_startup_and_counts_query_and_execute():
    startup = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")  # SSLRequest, then the startup message
    startup += (9).to_bytes(4, "big") + (196608).to_bytes(4, "big") + b"\x00"

    def message(kind, payload=b""):
        return kind + (4 + len(payload)).to_bytes(4, "big") + payload

    stream = startup + message(b"Q", b"BEGIN\x00") + message(b"P", b"\x00x\x00\x00\x00") + message(b"B", b"\x00" * 8)
    stream += message(b"E", b"\x00\x00\x00\x00\x00") + message(b"S")
    assert served.pg_statements(stream, False) == (2, len(stream), True)
    assert served.pg_statements(stream[:-2], False)[:2] == (2, len(stream) - 5)


@pytest.mark.postgres
def test_the_proxy_counts_one_round_trip_per_statement(db):
    settings_dict = connection.settings_dict
    proxy = served.CountingProxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)), "pg")
    try:
        with psycopg.connect(host="127.0.0.1", port=proxy.port, user=settings_dict["USER"], dbname=settings_dict["NAME"],
                             sslmode="disable", gssencmode="disable", autocommit=True) as conn:
            before = proxy.counts()
            for _ in range(3):
                conn.execute("SELECT 1").fetchall()
            with conn.transaction():  # BEGIN, the statement, COMMIT: three turns
                conn.execute("SELECT 2").fetchall()
            after = proxy.counts()
    finally:
        proxy.close()
    assert (after[0] - before[0], after[1] - before[1], after[2]) == (6, 6, 1)


@pytest.mark.postgres
def test_the_floor_answers_the_message_flow_list_as_flowdesk_does(db, django_user_model, monkeypatch):
    organization = Organization.objects.create(pk="org_servedFloorTest1", name="Floor")
    user = django_user_model.objects.create_user("floor")
    Membership.objects.create(user=user, organization=organization)
    _, raw = ApiKey.generate(user=user, organization=organization)
    connection.ensure_connection()
    generate.generate_message_flows(connection.connection, organization.pk, flows=6, workspaces=2)
    workspace = generate.message_flow_workspace(0)
    path = "/v1/api/message-flows"
    ours = Client().get(path, {"limit": 100}, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_X_WORKSPACE_ID=workspace)
    assert ours.status_code == 200

    # The floor on this test's connection, so it sees the rows of this test's transaction.
    monkeypatch.setattr(floor_app, "_conn", connection.connection)
    answer = {}
    body = floor_app.application(
        {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "limit=100", "wsgi.input": io.BytesIO(),
         "HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_X_WORKSPACE_ID": workspace},
        lambda status, headers: answer.update(status=status),
    )
    assert answer["status"] == "200 OK"
    assert orjson.loads(b"".join(body)) == orjson.loads(ours.content)
    assert len(orjson.loads(ours.content)) == 3

    # A wrong key is refused by the floor's key check, as by Flowdesk's.
    answer.clear()
    floor_app.application(
        {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "wsgi.input": io.BytesIO(),
         "HTTP_AUTHORIZATION": f"Bearer {raw[:-2]}xx", "HTTP_X_WORKSPACE_ID": workspace},
        lambda status, headers: answer.update(status=status),
    )
    assert answer["status"] == "401 Unauthorized"
