import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.housekeeping import delete_expired_credentials
from accounts.models import LoginChallenge, LoginCode, SocialHandoff, TokenFamily
from accounts.tasks import delete_expired_credentials as cleanup_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def credentials(user):
    """One expired and one live credential of each kind for alice."""
    now = timezone.now()
    past, future = now - timedelta(minutes=1), now + timedelta(days=1)
    for n, expires_at in enumerate((past, future)):
        token = OutstandingToken.objects.create(user=user, jti=f"jti-{n}", token="t", expires_at=expires_at)
        BlacklistedToken.objects.create(token=token)
        TokenFamily.objects.create(user=user, expires_at=expires_at)
        LoginCode.objects.create(user=user, code_hash=f"code-{n}", expires_at=expires_at)
        SocialHandoff.objects.create(user=user, code_hash=f"handoff-{n}", expires_at=expires_at)
        LoginChallenge.objects.create(
            user=user, kind=LoginChallenge.Kind.SECOND_FACTOR, token_hash=f"challenge-{n}", expires_at=expires_at
        )


def test_it_deletes_what_has_expired_and_keeps_what_is_still_valid(credentials):
    deleted = delete_expired_credentials()

    assert deleted == {
        "outstanding_tokens": 1,
        "token_families": 1,
        "login_codes": 1,
        "social_handoffs": 1,
        "login_challenges": 1,
    }
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["jti-1"]
    assert BlacklistedToken.objects.count() == 1, "the expired token's blacklist entry went with it"
    assert TokenFamily.objects.get().expires_at > timezone.now()
    assert list(LoginCode.objects.values_list("code_hash", flat=True)) == ["code-1"]
    assert list(SocialHandoff.objects.values_list("code_hash", flat=True)) == ["handoff-1"]
    assert list(LoginChallenge.objects.values_list("token_hash", flat=True)) == ["challenge-1"]


def test_running_it_twice_deletes_nothing_more(credentials):
    delete_expired_credentials()
    assert set(delete_expired_credentials().values()) == {0}


def test_the_task_logs_one_line_with_the_counts(credentials, caplog):
    caplog.set_level(logging.INFO, logger="gatehouse.tasks")
    cleanup_task.apply()
    (record,) = [r for r in caplog.records if getattr(r, "task", None) == "accounts.delete_expired_credentials"]
    assert (record.result, record.login_codes, record.outstanding_tokens) == ("done", 1, 1)
