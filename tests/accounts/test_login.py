import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import SESSION_KEY

from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import totp_code

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
def test_it_signs_in_with_email_or_username_in_any_case(client, user, login):
    response = client.post("/accounts/login/", {"login": login, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert client.session[SESSION_KEY] == str(user.pk)


def test_a_wrong_password_is_a_form_error_that_names_no_field(client, user):
    response = client.post("/accounts/login/", {"login": "alice", "password": "wrong-password"})
    assert response.status_code == 200
    assert "That username and password do not match an account." in response.content.decode()
    assert SESSION_KEY not in client.session


def test_an_unknown_account_gets_the_same_error(client, db):
    response = client.post("/accounts/login/", {"login": "nobody@example.com", "password": "wrong-password"})
    assert response.status_code == 200
    assert "That email address and password do not match an account." in response.content.decode()


def test_repeated_failures_are_rate_limited(client, user):
    for _ in range(5):
        client.post("/accounts/login/", {"login": "alice", "password": "wrong-password"})
    response = client.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    assert SESSION_KEY not in client.session
    assert "Too many failed login attempts" in response.content.decode()


def test_a_deactivated_user_cannot_sign_in(client, user):
    user.is_active = False
    user.save()
    response = client.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD}, follow=True)
    assert SESSION_KEY not in client.session
    assert response.redirect_chain == [("/accounts/inactive/", 302)]
    assert "This account is deactivated" in response.content.decode()


def test_signing_out_takes_a_post(client, user):
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 200  # a confirmation page, still signed in
    assert SESSION_KEY in client.session
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert SESSION_KEY not in client.session


def test_staff_reach_the_admin_through_the_portal_sign_in(client, staff):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    response = client.post("/accounts/login/", {"login": "staffer", "password": DEFAULT_PASSWORD})
    # Staff have a second factor (accounts.mfa): the code step, then "trust this browser?".
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/admin/").status_code == 302, "not signed in until the code is given"
    secret = Authenticator.objects.get(user=staff, type=Authenticator.Type.TOTP).wrap().instance.data["secret"]
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response["Location"] == "/accounts/2fa/trust/"
    client.post("/accounts/2fa/trust/", {"action": "skip"})
    assert client.get("/admin/").status_code == 200


def test_members_are_refused_the_admin(client, user):
    client.force_login(user)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code == 302
