from functools import partial

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import UserFactory
from tests.mfa_helpers import enrol_totp

# The loopback fake Stripe's fixtures: fake_stripe, fake_stripe_settings, fake_stripe_server.
pytest_plugins = ["tests.fake_stripe.fixtures"]


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    cache_backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    broker = "in-process (eager)" if settings.CELERY_TASK_ALWAYS_EAGER else "redis"
    return f"gatehouse: database={engine} cache={cache_backend} celery={broker}"


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters and other cached state must not leak between tests (Redis persists).
    cache.clear()


@pytest.fixture
def csrf_client():
    """A client that enforces CSRF like a browser would (Django's test client skips it)."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (mail tasks) as a real commit would; the test transaction never commits."""
    return partial(django_capture_on_commit_callbacks, execute=True)


# The cast: alice is a verified member, staffer runs the admin, newbie has not verified yet.
@pytest.fixture
def user(db):
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def staff(db):
    """Staff must use a second factor (accounts.mfa): staffer has an authenticator app. Sign in with
    tests.mfa_helpers.sign_in_with_second_factor for a session the admin accepts."""
    staffer = UserFactory(username="staffer", email="staff@example.com", is_staff=True, is_superuser=True)
    enrol_totp(staffer)
    return staffer


@pytest.fixture
def unverified_user(db):
    return UserFactory(username="newbie", email="newbie@example.com", verified=False)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as migrated, demo plans included, also when --reuse-db keeps one that a
    transactional test's flush emptied in an earlier run."""
    from tests.billing.fake_billing import ensure_demo_plans, ensure_periodic_schedule

    with django_db_blocker.unblock():
        ensure_demo_plans()
        ensure_periodic_schedule()
