"""The per-customer lock: every path that applies Stripe's word about a customer takes it.

A PostgreSQL advisory lock (session level, so it is shared by every process and instance and is
no database transaction): the webhook view holds it while dj-stripe re-fetches and our receivers
apply, and the portal's change, cancel and resume hold it while they record Stripe's answer, so
news about one customer is applied one piece at a time, in the order it was read from Stripe.
"""

import contextlib
import hashlib
import time

from django.db import connection

LOCK_WAIT_SECONDS = 10


class LockBusy(Exception):
    """The customer's lock was not free within the wait."""


@contextlib.contextmanager
def customer_lock(customer_id: str | None, *, wait: float = LOCK_WAIT_SECONDS):
    if connection.vendor != "postgresql" or not customer_id:
        yield  # SQLite serialises writers anyway; there is one process in development.
        return
    key = int.from_bytes(hashlib.blake2b(customer_id.encode(), digest_size=8).digest(), "big", signed=True)
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() > deadline:
                raise LockBusy
            time.sleep(0.02)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
