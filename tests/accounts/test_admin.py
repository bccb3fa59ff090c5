import pytest

from accounts.models import Profile, User
from tests.factories import UserFactory
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "a-long-and-unusual-passphrase-42"


def _add_user(client, **overrides):
    data = {
        "username": "newcomer",
        "email": "newcomer@example.com",
        "usable_password": "true",
        "password1": STRONG_PASSWORD,
        "password2": STRONG_PASSWORD,
        **overrides,
    }
    return client.post("/admin/accounts/user/add/", data)


def test_staff_creating_a_user_in_the_admin_makes_exactly_one_profile(client, staff):
    sign_in_with_second_factor(client, staff)
    response = _add_user(client)
    assert response.status_code == 302
    user = User.objects.get(username="newcomer")
    assert Profile.objects.filter(user=user).count() == 1


def test_the_admin_add_form_reports_an_email_taken_in_another_case(client, staff):
    UserFactory(email="taken@example.com")
    sign_in_with_second_factor(client, staff)
    response = _add_user(client, email="TAKEN@example.com")
    assert response.status_code == 200
    assert "A user with this email address already exists." in response.content.decode()
    assert not User.objects.filter(username="newcomer").exists()


def test_the_change_page_edits_the_profile_inline(client, staff, user):
    sign_in_with_second_factor(client, staff)
    page = client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    assert "profile-0-first_name" in page.content.decode()


def test_the_user_list_searches_by_profile_name(client, staff):
    findable = UserFactory(username="findme")
    findable.profile.last_name = "Hopper"
    findable.profile.save()
    UserFactory(username="other")
    sign_in_with_second_factor(client, staff)
    page = client.get("/admin/accounts/user/", {"q": "hopper"})
    assert page.status_code == 200
    assert "findme" in page.content.decode()
    assert "other@example.com" not in page.content.decode()
