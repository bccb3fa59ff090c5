import pytest
from allauth.account.models import EmailAddress

from accounts.models import Profile, User
from tests.accounts.mail import last_mail_to, link_in
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


def register(api, **overrides):
    return api.post(
        "/api/register",
        {"email": "bob@example.com", "username": "bob", "password": PASSWORD, **overrides},
        format="json",
    )


def test_register_creates_an_unverified_user_with_a_profile_and_mails_the_link(api, committing):
    with committing():
        response = register(api)
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "email": "bob@example.com",
        "username": "bob",
        "provider": "local",
        "is_verified": False,
        "is_staff": False,
        "profile": {"first_name": "", "last_name": "", "image_url": ""},
    }
    user = User.objects.get(pk=body["id"])
    assert Profile.objects.filter(user=user).count() == 1
    assert EmailAddress.objects.get(user=user).verified is False
    assert link_in(last_mail_to("bob@example.com"), "/accounts/confirm-email/")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "ALICE@example.com"}, "email", "This email address is already taken."),
        ({"username": "Alice"}, "username", "This username is already taken."),
        ({"password": "short"}, "password", "This password is too short. It must contain at least 10 characters."),
        ({"password": "password123"}, "password", "This password is too common."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"username": "bad name!"}, "username", "Enter a valid username."),
    ],
)
def test_register_answers_422_per_field(api, user, overrides, field, message):
    response = register(api, **overrides)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert field in errors
    assert errors[field].startswith(message)
    assert User.objects.count() == 1


def test_register_names_every_missing_field(api, db):
    response = api.post("/api/register", {}, format="json")
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "email": "This field is required.",
            "username": "This field is required.",
            "password": "This field is required.",
        }
    }


@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.com", "Alice@Example.com"])
def test_login_by_email_or_username_answers_the_token_response(api, user, login):
    response = api.post("/api/login", {"email": login, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "refresh_token", "type", "expires_in", "user"}
    assert body["type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"]["username"] == "alice"
    cookie = response.cookies["refresh_token"]
    assert cookie.value == body["refresh_token"]
    assert cookie["httponly"] is True
    assert cookie["path"] == "/api/"
    assert cookie["samesite"] == "Lax"


def test_login_with_a_wrong_password_is_401(api, user):
    response = api.post("/api/login", {"email": "alice", "password": "wrong-password"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid email or password"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_login_of_an_unknown_user_is_the_same_401(api, db):
    response = api.post("/api/login", {"email": "nobody@example.com", "password": "wrong-password"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid email or password"}


def test_login_of_a_deactivated_user_is_403(api, user):
    user.is_active = False
    user.save()
    response = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "User is disabled"}


def test_a_deactivated_user_with_a_wrong_password_learns_nothing(api, user):
    user.is_active = False
    user.save()
    response = api.post("/api/login", {"email": "alice", "password": "wrong-password"}, format="json")
    assert response.status_code == 401


def test_an_unverified_user_may_log_in_and_read_me_but_not_use_an_a_route(api, unverified_user):
    body = api.post("/api/login", {"email": "newbie", "password": DEFAULT_PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/me").status_code == 200
    response = api.patch("/api/me", {"first_name": "New"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Email address is not verified."}


def test_a_token_from_before_verification_reaches_the_a_routes_once_the_address_is_verified(api, unverified_user):
    body = api.post("/api/login", {"email": "newbie", "password": DEFAULT_PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/me").json()["is_verified"] is False
    assert api.get("/api/billing/payments/me").status_code == 403

    EmailAddress.objects.filter(user=unverified_user).update(verified=True)

    assert api.get("/api/me").json()["is_verified"] is True  # read with the token's family, per request
    assert api.get("/api/billing/payments/me").status_code == 200


def test_an_address_changed_to_an_unverified_one_closes_the_a_routes_again(api, user):
    body = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/billing/payments/me").status_code == 200

    User.objects.filter(pk=user.pk).update(email="alice.new@example.com")

    assert api.get("/api/billing/payments/me").status_code == 403
    assert api.get("/api/me").json()["is_verified"] is False


def test_concurrent_logins_of_one_user_each_get_their_own_tokens(api, user):
    first = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()
    second = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()
    assert first["refresh_token"] != second["refresh_token"]
    for tokens in (first, second):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['token']}")
        assert api.get("/api/me").status_code == 200


def test_me_patch_updates_the_profile(api, user):
    body = api.post("/api/login", {"email": "alice", "password": DEFAULT_PASSWORD}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    response = api.patch(
        "/api/me",
        {"first_name": "Ada", "last_name": "Lovelace", "image_url": "https://img.example.com/a.png"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["profile"] == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "image_url": "https://img.example.com/a.png",
    }
    bad = api.patch("/api/me", {"image_url": "javascript:alert(1)", "first_name": ["x"]}, format="json")
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"image_url", "first_name"}
    user.profile.refresh_from_db()
    assert user.profile.first_name == "Ada"


def test_me_without_a_token_is_401_with_a_bearer_challenge(api, db):
    response = api.get("/api/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_garbage_token_is_401(api, db):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = api.get("/api/me")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_tokens_of_a_deleted_user_are_401_not_500(api, db):
    doomed = UserFactory(username="doomed")
    body = api.post("/api/login", {"email": "doomed", "password": DEFAULT_PASSWORD}, format="json").json()
    doomed.delete()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/me").status_code == 401
    api.credentials()
    assert api.post("/api/refresh-token", {"refresh_token": body["refresh_token"]}, format="json").status_code == 401
