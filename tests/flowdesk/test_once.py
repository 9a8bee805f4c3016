"""Work a transaction does once (flowdesk/db/once.py): a live flow session's revision, raised once
however many saves one transaction makes of it and its steps."""

import contextlib

import pytest
from django.db import transaction

from flows.models import LiveFlowSession
from tests.flows.factories import make_live_flow, make_session

pytestmark = pytest.mark.django_db(transaction=True)


def revision(session):
    return LiveFlowSession.objects.get(pk=session.pk).revision


def test_one_new_revision_a_transaction_however_many_saves(tenant):
    session = make_session(make_live_flow(tenant.organization), n_recorded=2)
    before = revision(session)
    with transaction.atomic():
        session.save()
        session.steps.first().save()
        session.save()
    assert revision(session) == before + 1
    session.save()  # outside a transaction: each save is one
    session.save()
    assert revision(session) == before + 3


def test_a_rolled_back_savepoint_forgets_its_revision_so_the_next_change_raises_it_again(tenant):
    session = make_session(make_live_flow(tenant.organization), n_recorded=1)
    before = revision(session)
    with transaction.atomic():
        with contextlib.suppress(ZeroDivisionError), transaction.atomic():
            session.save()
            raise ZeroDivisionError
        session.save()
    assert revision(session) == before + 1
