"""Every portal form refuses a POST without a CSRF token (403), with a browser-like client."""

import pytest

from accounts.models import User
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db

ANONYMOUS_FORMS = [
    "/accounts/signup/",
    "/accounts/login/",
    "/accounts/password/reset/",
    "/accounts/login/code/",
    "/accounts/google/login/",
    "/accounts/github/login/",
]
SIGNED_IN_FORMS = [
    "/accounts/logout/",
    "/accounts/profile/",
    "/accounts/deactivate/",
    "/accounts/reauthenticate/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/3rdparty/",
    "/accounts/sessions/",
    "/admin/accounts/user/",
]


@pytest.mark.parametrize("path", ANONYMOUS_FORMS)
def test_anonymous_forms_refuse_a_post_without_a_token(csrf_client, path):
    response = csrf_client.post(path, {"email": "x@example.com", "login": "x", "password": "y"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


@pytest.mark.parametrize("path", SIGNED_IN_FORMS)
def test_signed_in_forms_refuse_a_post_without_a_token(csrf_client, staff, path):
    sign_in_with_second_factor(csrf_client, staff)
    response = csrf_client.post(path, {"confirm": "on", "first_name": "Mallory", "action": "deactivate"})
    assert response.status_code == 403
    staff.refresh_from_db()
    assert staff.is_active
    assert staff.profile.first_name == ""


def test_a_post_with_the_token_goes_through(csrf_client, db):
    csrf_client.get("/accounts/signup/")
    token = csrf_client.cookies["csrftoken"].value
    password = "a-long-and-unusual-passphrase-42"
    response = csrf_client.post(
        "/accounts/signup/",
        {
            "csrfmiddlewaretoken": token,
            "email": "b@example.com",
            "username": "b",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 302
    assert User.objects.filter(username="b").exists()


def test_the_code_confirmation_and_reset_key_forms_refuse_a_post_without_a_token(csrf_client, user):
    assert csrf_client.post("/accounts/login/code/confirm/", {"code": "123456"}).status_code == 403
    assert csrf_client.post("/accounts/password/reset/key/1-set-password/", {"password1": "x"}).status_code == 403
    assert csrf_client.post("/accounts/confirm-email/some-key/").status_code == 403
