import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import TokenFamily
from tests.api.conftest import bearer, login
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-unusual-passphrase-77"


def refresh(api, token, **kwargs):
    return api.post("/api/refresh-token", {"refresh_token": token} if token else {}, format="json", **kwargs)


def test_refresh_rotates_and_the_new_pair_works(api, user):
    first = login(api)
    response = refresh(api, first["refresh_token"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "refresh_token", "type", "expires_in"}
    assert body["refresh_token"] != first["refresh_token"]
    assert response.cookies["refresh_token"].value == body["refresh_token"]
    assert bearer(APIClient(), body["token"]).get("/api/me").status_code == 200
    assert refresh(APIClient(), body["refresh_token"]).status_code == 200


def test_refresh_reads_the_cookie_when_the_body_has_none(user):
    api = APIClient()
    login(api)  # the cookie is set on the client, path /api/
    response = api.post("/api/refresh-token", {}, format="json")
    assert response.status_code == 200


def test_refresh_still_accepts_the_seed_clients_query_parameter(api, user):
    first = login(api)
    fresh = APIClient()
    assert fresh.post(f"/api/refresh-token?token={first['refresh_token']}", {}, format="json").status_code == 200


def test_a_replayed_refresh_token_revokes_the_whole_login(api, user, caplog):
    first = login(api)
    second = refresh(APIClient(), first["refresh_token"]).json()
    third = refresh(APIClient(), second["refresh_token"]).json()
    replay = refresh(APIClient(), first["refresh_token"])
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    # The newest tokens of that login are dead too, refresh and access alike.
    assert refresh(APIClient(), third["refresh_token"]).status_code == 401
    assert bearer(APIClient(), third["token"]).get("/api/me").status_code == 401
    assert TokenFamily.objects.get().revoked_reason == TokenFamily.RevokedReason.REPLAY
    events = [r for r in caplog.records if r.name == "gatehouse.security"]
    assert [e.event for e in events] == ["refresh_token_replayed"]
    assert first["refresh_token"] not in caplog.text


def test_a_replay_leaves_the_users_other_logins_alone(api, user, settings):
    settings.REFRESH_REUSE_GRACE_SECONDS = 0  # the second refresh right away is a replay, not a retry
    phone = login(api)
    tablet = login(APIClient())
    refresh(APIClient(), phone["refresh_token"])
    refresh(APIClient(), phone["refresh_token"])  # replay
    assert refresh(APIClient(), tablet["refresh_token"]).status_code == 200


def test_an_access_token_is_not_a_refresh_token(api, user):
    first = login(api)
    assert refresh(APIClient(), first["token"]).status_code == 401


def test_a_forged_or_missing_refresh_token_is_401(api, db):
    assert refresh(api, "eyJhbGciOiJIUzI1NiJ9.e30.forged").status_code == 401
    response = refresh(APIClient(), None)
    assert response.status_code == 401
    assert response.json() == {"detail": "No refresh token given."}


def test_an_expired_refresh_token_is_401(api, user):
    first = login(api)
    expired = RefreshToken(first["refresh_token"])
    expired.set_exp(lifetime=-timedelta(seconds=60))
    response = refresh(APIClient(), str(expired))
    assert response.status_code == 401
    assert response.json() == {"detail": "Token is expired"}


def test_a_login_past_its_absolute_end_cannot_refresh(api, user):
    first = login(api)
    TokenFamily.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert refresh(APIClient(), first["refresh_token"]).status_code == 401


def test_refresh_tokens_never_outlive_the_absolute_lifetime(api, user):
    first = login(api)
    family = TokenFamily.objects.get()
    family.expires_at = timezone.now() + timedelta(hours=1)
    family.save()
    body = refresh(APIClient(), first["refresh_token"]).json()
    expires = RefreshToken(body["refresh_token"])["exp"]
    assert expires <= int(family.expires_at.timestamp()) + 1


def test_logout_revokes_that_login_and_clears_the_cookie(api, user):
    phone = login(api)
    tablet = login(APIClient())
    response = bearer(api, phone["token"]).post("/api/logout", {}, format="json")
    assert response.status_code == 204
    assert response.cookies["refresh_token"].value == ""
    assert response.cookies["refresh_token"]["path"] == "/api/"
    assert refresh(APIClient(), phone["refresh_token"]).status_code == 401
    assert bearer(APIClient(), phone["token"]).get("/api/me").status_code == 401
    assert refresh(APIClient(), tablet["refresh_token"]).status_code == 200


def test_logout_needs_a_token(api, db):
    assert api.post("/api/logout", {}, format="json").status_code == 401


def test_deactivation_kills_every_token(api, user):
    phone = login(api)
    tablet = login(APIClient())
    response = bearer(api, phone["token"]).post("/api/deactivate", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 202
    assert response.json() == {"message": "User deactivated."}
    for tokens in (phone, tablet):
        assert bearer(APIClient(), tokens["token"]).get("/api/me").status_code == 401
        assert refresh(APIClient(), tokens["refresh_token"]).status_code == 401
    assert (
        APIClient().post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").status_code
        == 403
    )


def test_deactivation_with_a_wrong_password_changes_nothing(api, user):
    phone = login(api)
    response = bearer(api, phone["token"]).post("/api/deactivate", {"password": "wrong"}, format="json")
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.is_active


def test_deactivating_in_the_portal_kills_api_tokens(api, user):
    phone = login(api)
    browser = Client()
    browser.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    browser.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})
    browser.post("/accounts/deactivate/", {"confirm": "on"})
    assert bearer(APIClient(), phone["token"]).get("/api/me").status_code == 401


def test_password_change_keeps_this_login_and_kills_the_others(api, user):
    phone = login(api)
    tablet = login(APIClient())
    response = bearer(api, phone["token"]).post(
        "/api/change-password", {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert bearer(APIClient(), phone["token"]).get("/api/me").status_code == 200
    assert refresh(APIClient(), phone["refresh_token"]).status_code == 200
    assert refresh(APIClient(), tablet["refresh_token"]).status_code == 401
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_change_in_the_portal_kills_api_tokens(api, user):
    phone = login(api)
    browser = Client()
    browser.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    browser.post("/accounts/reauthenticate/", {"password": DEFAULT_PASSWORD})  # asked before a change
    browser.post(
        "/accounts/password/change/",
        {"oldpassword": DEFAULT_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert refresh(APIClient(), phone["refresh_token"]).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_app_signed_in_when_it_refreshes_twice_at_once(user):
    """Two refreshes of one token at the same moment (an app's two threads): both callers get the
    same successor, every token they got works, and the login is not revoked as a replay."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises writers differently)")
    first = login(APIClient())
    barrier = threading.Barrier(2)
    responses = []

    def worker():
        try:
            client = APIClient()
            barrier.wait(timeout=10)
            responses.append(refresh(client, first["refresh_token"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in responses] == [200, 200]
    winner, loser = (r.json() for r in responses)
    assert winner["refresh_token"] == loser["refresh_token"]
    assert TokenFamily.objects.get().revoked_at is None
    for body in (winner, loser):
        assert bearer(APIClient(), body["token"]).get("/api/me").status_code == 200
    assert refresh(APIClient(), winner["refresh_token"]).status_code == 200


def test_it_hands_a_retry_within_the_grace_the_same_successor(api, user):
    first = login(api)
    rotated = refresh(APIClient(), first["refresh_token"]).json()

    retried = refresh(APIClient(), first["refresh_token"])

    assert retried.status_code == 200
    assert retried.json()["refresh_token"] == rotated["refresh_token"]
    assert retried.cookies["refresh_token"].value == rotated["refresh_token"]
    assert bearer(APIClient(), retried.json()["token"]).get("/api/me").status_code == 200
    assert TokenFamily.objects.get().revoked_at is None
    assert OutstandingToken.objects.count() == 2  # no second successor was minted


def test_it_revokes_the_login_when_a_rotated_token_comes_back_after_the_grace(api, user, settings):
    first = login(api)
    rotated = refresh(APIClient(), first["refresh_token"]).json()
    grace = timedelta(seconds=settings.REFRESH_REUSE_GRACE_SECONDS)
    BlacklistedToken.objects.update(blacklisted_at=timezone.now() - grace - timedelta(seconds=1))

    replay = refresh(APIClient(), first["refresh_token"])

    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert TokenFamily.objects.get().revoked_reason == TokenFamily.RevokedReason.REPLAY
    assert refresh(APIClient(), rotated["refresh_token"]).status_code == 401
    assert bearer(APIClient(), rotated["token"]).get("/api/me").status_code == 401


def test_it_revokes_the_login_when_a_rotated_token_comes_back_after_its_successor_was_used(api, user):
    first = login(api)
    second = refresh(APIClient(), first["refresh_token"]).json()
    third = refresh(APIClient(), second["refresh_token"]).json()

    replay = refresh(APIClient(), first["refresh_token"])  # within the grace, but the chain moved on

    assert replay.status_code == 401
    assert TokenFamily.objects.get().revoked_reason == TokenFamily.RevokedReason.REPLAY
    assert refresh(APIClient(), third["refresh_token"]).status_code == 401


def test_it_has_no_grace_when_the_grace_is_set_to_zero(api, user, settings):
    settings.REFRESH_REUSE_GRACE_SECONDS = 0
    first = login(api)
    refresh(APIClient(), first["refresh_token"])

    assert refresh(APIClient(), first["refresh_token"]).status_code == 401
    assert TokenFamily.objects.get().revoked_reason == TokenFamily.RevokedReason.REPLAY


def test_it_stores_no_refresh_token_in_plaintext(api, user):
    first = login(api)
    second = refresh(APIClient(), first["refresh_token"]).json()
    stored = list(OutstandingToken.objects.values_list("token", flat=True))
    assert len(stored) == 2
    assert not {first["refresh_token"], second["refresh_token"]} & set(stored)
    assert all(first["refresh_token"].split(".")[2] not in value for value in stored)


@pytest.mark.django_db(transaction=True)
def test_concurrent_logins_of_one_user_all_succeed(user):
    if connection.vendor != "postgresql":
        pytest.skip("threads need a shared server database (the SQLite test database is per connection)")
    statuses = []

    def worker():
        try:
            response = APIClient().post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert TokenFamily.objects.filter(user=user).count() == 4


# --- Logout with a refresh token ---------------------------------------------------------------

NOT_YOURS = {"detail": "This refresh token is not one of yours. This login has been signed out."}


def test_it_refuses_to_log_out_with_someone_elses_refresh_token_and_still_ends_the_callers_login(api, user):
    from tests.factories import UserFactory

    UserFactory(username="bob", email="bob@example.com")
    alice = login(api)
    bob = login(APIClient(), "bob")

    response = bearer(APIClient(), alice["token"]).post(
        "/api/logout", {"refresh_token": bob["refresh_token"]}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == NOT_YOURS
    # Bob's login is untouched; Alice's, who asked to sign out, has ended.
    assert refresh(APIClient(), bob["refresh_token"]).status_code == 200
    assert bearer(APIClient(), alice["token"]).get("/api/me").status_code == 401
    assert refresh(APIClient(), alice["refresh_token"]).status_code == 401
    assert TokenFamily.objects.get(user=user).revoked_reason == TokenFamily.RevokedReason.LOGOUT


def test_it_refuses_a_refresh_token_that_is_not_one_of_ours_and_still_ends_the_callers_login(api, user):
    alice = login(api)

    response = bearer(APIClient(), alice["token"]).post("/api/logout", {"refresh_token": "not-a-token"}, format="json")

    assert response.status_code == 403
    assert response.json() == NOT_YOURS
    assert bearer(APIClient(), alice["token"]).get("/api/me").status_code == 401


def test_it_ends_the_callers_login_and_the_one_whose_refresh_token_it_gave(api, user):
    phone = login(api)
    tablet = login(APIClient())
    laptop = login(APIClient())

    response = bearer(APIClient(), phone["token"]).post(
        "/api/logout", {"refresh_token": tablet["refresh_token"]}, format="json"
    )

    assert response.status_code == 204
    for ended in (phone, tablet):
        assert bearer(APIClient(), ended["token"]).get("/api/me").status_code == 401
        assert refresh(APIClient(), ended["refresh_token"]).status_code == 401
    assert refresh(APIClient(), laptop["refresh_token"]).status_code == 200
