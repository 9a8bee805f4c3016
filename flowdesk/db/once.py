"""Work a transaction needs done once, however many times its changes ask for it."""

from django.db import connection, transaction


def once_per_transaction(key, work):
    """Run ``work()`` now, unless the open transaction already ran it for ``key``.

    A savepoint rolled back forgets what it ran (its on-commit marker is dropped with it), so the
    work runs again; outside a transaction it always runs."""
    if not connection.in_atomic_block:
        return work()
    done = getattr(connection, "_flowdesk_done_once", None)
    if done is None or not connection.run_on_commit:
        # Nothing promised yet in this transaction: what is remembered is from ones rolled back.
        done = connection._flowdesk_done_once = {}
    marker = done.get(key)
    if marker is not None and any(entry[1] is marker for entry in connection.run_on_commit):
        return None

    def marker():
        done.pop(key, None)

    done[key] = marker
    transaction.on_commit(marker)
    return work()
