"""The one source of events: published once, after commit, to listeners and outlets."""

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import transaction

from flowdesk import events
from tests.served import redis_up

ROOT = Path(__file__).resolve().parents[2]




def publish(channel="thing:1", render=lambda: {"n": 1}, event_type="thing.updated"):
    events.publish(event_type, channel=channel, organization_id="org_a", render=render)


def publish_in_another_process(redis_url, channel, data):
    """A thing.updated event rendered as ``data``, published by another process on ``redis_url``."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from flowdesk import events;"
        f"events.publish('thing.updated', channel={channel!r}, organization_id='org_a', render=lambda: {data!r})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60,
                   env={**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": "sqlite://:memory:"})


@pytest.mark.django_db(transaction=True)
def test_published_once_after_commit_rendered_as_committed(heard):
    state = {"n": 0}
    with transaction.atomic():
        for n in range(3):
            state["n"] = n + 1
            publish(render=lambda: dict(state))
        assert heard == []
    assert [(e.type, e.channel, e.organization_id, e.data) for e in heard] == [
        ("thing.updated", "thing:1", "org_a", {"n": 3})
    ]
    assert heard[0].id.startswith("evt_")


@pytest.mark.django_db(transaction=True)
def test_nothing_for_a_rolled_back_transaction_and_the_next_one_still_publishes(heard):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish()
        raise RuntimeError
    assert heard == []
    with transaction.atomic():
        publish()
    assert len(heard) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_drops_its_promise(heard):
    with transaction.atomic():
        try:
            with transaction.atomic():
                publish()
                raise RuntimeError
        except RuntimeError:
            pass
        publish()
    assert len(heard) == 1


@pytest.mark.django_db(transaction=True)
def test_different_objects_and_types_each_publish(heard):
    with transaction.atomic():
        publish("thing:1")
        publish("thing:2")
        publish("thing:1", event_type="thing.status_changed")
    assert sorted((e.channel, e.type) for e in heard) == [
        ("thing:1", "thing.status_changed"), ("thing:1", "thing.updated"), ("thing:2", "thing.updated"),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_object_gone_by_commit_time_publishes_nothing(heard):
    with transaction.atomic():
        publish(render=lambda: None)
    assert heard == []


@pytest.mark.django_db(transaction=True)
def test_an_event_nobody_would_hear_is_not_rendered(broker):
    # No listener, and the one outlet (webhooks) has no endpoint for the organization.
    broker(None)
    renders = []
    with transaction.atomic():
        publish("thing:quiet", render=lambda: renders.append(1) or {"n": 1}, event_type="user_session.updated")
    assert renders == []


@pytest.mark.django_db(transaction=True)
def test_nobody_listening_and_no_outlet_taking_the_type_costs_not_even_the_organizations_look(broker):
    # A live flow session's "updated" (its stream's event, no webhook type): nothing is looked up.
    broker(None)
    looked_up, renders = [], []
    with transaction.atomic():
        events.publish("live_flow_session.updated", channel="thing:2", organization_id=lambda: looked_up.append(1),
                       render=lambda: renders.append(1) or {"n": 1})
    assert (looked_up, renders) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_an_outlet_that_does_not_want_the_type_is_not_asked_to_hear_it(broker):
    broker(None)
    received, renders = [], []
    events.register_outlet(received.append, wants=lambda event_type, organization: event_type == "thing.wanted")
    try:
        with transaction.atomic():
            publish("thing:1", render=lambda: renders.append(1) or {"n": 1}, event_type="thing.other")
            publish("thing:1", render=lambda: renders.append(2) or {"n": 2}, event_type="thing.wanted")
    finally:
        events._outlets.remove(received.append)
        events._outlet_wants.pop(received.append)
    assert (renders, [(event.type, event.data) for event in received]) == ([2], [("thing.wanted", {"n": 2})])


@pytest.fixture
def broker(settings):
    """``broker(url)``: the events broker on that Redis (None: in-process only), made anew; reset after the test."""

    def on(url):
        settings.REDIS_URL = url
        events.reset_broker()

    yield on
    events.reset_broker()


@pytest.mark.django_db(transaction=True)
def test_local_listener_hears_events_published_in_another_thread(broker):
    broker(None)

    async def listen():
        async with events.listen("thing:7") as queue:
            thread = threading.Thread(target=lambda: publish("thing:7", render=lambda: {"n": 7}))
            thread.start()
            event = await asyncio.wait_for(queue.get(), 5)
            thread.join()
            return event

    assert asyncio.run(listen()).data == {"n": 7}



@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_redis_listener_hears_another_process(broker):
    broker("redis://127.0.0.1:6379/0")

    async def listen():
        async with events.listen("thing:redis") as queue:
            await asyncio.sleep(0.2)  # subscribed before the other process publishes
            await asyncio.to_thread(publish_in_another_process, "redis://127.0.0.1:6379/0", "thing:redis", {"n": 9})
            return await asyncio.wait_for(queue.get(), 10)

    event = asyncio.run(listen())
    assert (event.type, event.channel, event.data) == ("thing.updated", "thing:redis", {"n": 9})


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
@pytest.mark.django_db(transaction=True)
def test_with_redis_an_event_is_rendered_only_while_some_process_subscribes(broker):
    import redis

    broker("redis://127.0.0.1:6379/13")
    renders = []

    def publish_now():
        publish("thing:numsub", render=lambda: renders.append(1) or {"n": 1}, event_type="user_session.updated")

    publish_now()
    assert renders == []
    other_process = redis.Redis.from_url("redis://127.0.0.1:6379/13").pubsub()
    other_process.subscribe(events.channel_prefix("redis://127.0.0.1:6379/13") + "thing:numsub")
    try:
        other_process.get_message(timeout=5)  # the subscription confirmed
        publish_now()
        message = other_process.get_message(ignore_subscribe_messages=True, timeout=5)
    finally:
        other_process.close()
    assert renders == [1]
    assert message is not None


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_deployments_on_other_redis_databases_do_not_hear_each_other(broker):
    # Redis pub/sub ignores the database number: the channels carry it.
    broker("redis://127.0.0.1:6379/11")

    def publish_from(url):
        publish_in_another_process(url, "thing:shared", {"url": url})

    async def listen():
        async with events.listen("thing:shared") as queue:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(publish_from, "redis://127.0.0.1:6379/12")
            await asyncio.to_thread(publish_from, "redis://127.0.0.1:6379/11")
            first = await asyncio.wait_for(queue.get(), 10)
            await asyncio.sleep(0.2)
            return first, queue.qsize()

    first, more = asyncio.run(listen())
    assert (first.data, more) == ({"url": "redis://127.0.0.1:6379/11"}, 0)
