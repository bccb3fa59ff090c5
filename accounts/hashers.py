"""Password hashing parameters (see the README, "Security")."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Django's Argon2id hasher at RFC 9106's second recommended cost, in one lane.

    RFC 9106 section 4, option 2: t=3 passes over m=64 MiB. Django's default (t=2, m=100 MiB,
    8 lanes) spreads one hash over every core and adds 100 MiB to a worker's peak memory for
    each sign-in; one lane keeps a sign-in on one core (logins scale with workers, a hash never
    starves the requests beside it) and 64 MiB keeps a worker's peak under its memory budget.
    Same algorithm name: hashes made with other parameters still verify and are re-hashed with
    these at the next sign-in (Django's must_update).
    """

    time_cost = 3
    memory_cost = 64 * 1024  # KiB
    parallelism = 1
