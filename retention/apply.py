"""What apply_retention does for one organization and one family of sessions.

Expired sessions are found by walking an index the lists already have, newest first, in pages
(a keyset: held and still-active sessions are passed once, not again in every batch). Each batch is
a list of primary keys deleted in a transaction of its own: its sessions are locked and checked
again (still expired, not held, the organization's policy not on hold), then their children and
the sessions go in a few DELETE statements. Row locks on one batch are all that is held, and only
for that batch.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from chat.models import ChatSession
from flows.models import LiveFlow, LiveFlowSession
from retention.deletion import delete_rows
from retention.models import RetentionPolicy
from sessions_app.models import UserSession

BATCH_SIZE = 1000


class PolicyHeld(Exception):
    """The organization's policy was put on hold (or removed) while the run went on."""


@dataclass(frozen=True)
class Family:
    key: str  # the audit event's field, e.g. "live_flow_sessions"
    noun: str  # as the summary line says it
    model: type
    policy_field: str
    activity: str  # the last activity's column
    # The index walked: (column, "pk"), newest first, within each partition.
    order: str

    def partitions(self, organization_id):
        """Querysets whose rows one index serves in `order`."""
        if self.model is LiveFlowSession:
            # session_list_idx: (live_flow, -created_at, -id), one live flow at a time.
            for live_flow_id in LiveFlow.objects.filter(organization_id=organization_id).order_by("pk").values_list("pk", flat=True):
                yield LiveFlowSession.objects.filter(live_flow_id=live_flow_id)
        else:
            # usersession_updated_idx (-updated_at, -id); chatsession_list_idx (organization, -activity_at, -id).
            yield self.model._base_manager.filter(organization_id=organization_id)

    def expired(self, cutoff):
        return Q(**{f"{self.activity}__lt": cutoff}, retention_hold=False)


FAMILIES = [
    # A live flow session's last activity is its updated_at (every change moves it); the walk goes by
    # created_at, the index the list has, so a session updated lately is passed over once.
    Family("live_flow_sessions", "live flow sessions", LiveFlowSession, "live_flow_sessions_days", "updated_at", "created_at"),
    # user sessions belong to an organization through their (nullable) organization: one without is under no policy.
    Family("user_sessions", "user sessions", UserSession, "user_sessions_days", "updated_at", "updated_at"),
    # activity_at: the last message, else the creation (kept by every writer of messages).
    Family("chat_sessions", "chat sessions", ChatSession, "chat_sessions_days", "activity_at", "activity_at"),
]


def expired_batches(family, partition, cutoff, batch_size):
    """Lists of at most ``batch_size`` primary keys of expired, unheld sessions, newest first."""
    rows = partition.filter(family.expired(cutoff)).order_by(f"-{family.order}", "-pk")
    if family.order == family.activity:
        rows = rows.filter(**{f"{family.order}__lt": cutoff})  # a bound on the index, not only a filter
    after = None
    while True:
        page = rows
        if after is not None:
            # (order, pk) < after, written so that `order <= value` bounds the index scan.
            page = page.filter(**{f"{family.order}__lte": after[0]}).exclude(
                **{family.order: after[0], "pk__gte": after[1]}
            )
        found = list(page.values_list(family.order, "pk")[:batch_size])
        if not found:
            return
        yield [pk for _, pk in found]
        if len(found) < batch_size:
            return
        after = found[-1]


def delete_batch(family, partition, pks, cutoff, organization_id):
    """Delete these sessions (those still expired and unheld) with their children; all or nothing."""
    with transaction.atomic():
        # Locked against set_retention: a hold set while this runs stops it at the next batch.
        policy = RetentionPolicy.objects.select_for_update(no_key=True).filter(pk=organization_id).first()
        if policy is None or policy.hold or getattr(policy, family.policy_field) is None:
            raise PolicyHeld
        # Locked in pk order, then checked again: a session held or used since it was found stays.
        confirmed = list(
            partition.filter(family.expired(cutoff), pk__in=pks)
            .select_for_update().order_by("pk").values_list("pk", flat=True)
        )
        if not confirmed:
            return 0
        return delete_rows(family.model._base_manager.filter(pk__in=confirmed))


def apply_family(family, organization_id, cutoff, *, dry_run=False, batch_size=BATCH_SIZE):
    """Delete (or, dry, count) the organization's expired sessions of one family; yields after each
    batch the number done in it."""
    for partition in family.partitions(organization_id):
        for pks in expired_batches(family, partition, cutoff, batch_size):
            yield len(pks) if dry_run else delete_batch(family, partition, pks, cutoff, organization_id)
