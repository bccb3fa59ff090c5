"""Counting password hashes: the work that makes a sign-in or sign-up slow, and its timing tell."""

import threading
from contextlib import contextmanager
from unittest import mock

from django.contrib.auth.hashers import get_hasher


class HashCount:
    def __init__(self):
        self.count = 0
        self._depth = threading.local()

    def wrap(self, method):
        def counted(hasher, *args, **kwargs):
            # A verify may call encode (Django's MD5 and PBKDF2 hashers do): count the outer call only.
            depth = getattr(self._depth, "value", 0)
            if depth == 0:
                self.count += 1
            self._depth.value = depth + 1
            try:
                return method(hasher, *args, **kwargs)
            finally:
                self._depth.value = depth

        return counted


@contextmanager
def counting_hashes():
    """Every password hash the configured hasher computes, made (encode) or checked (verify)."""
    hasher_class = type(get_hasher("default"))
    counter = HashCount()
    with (
        mock.patch.object(hasher_class, "encode", counter.wrap(hasher_class.encode)),
        mock.patch.object(hasher_class, "verify", counter.wrap(hasher_class.verify)),
    ):
        yield counter
