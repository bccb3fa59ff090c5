import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from accounts.models import Profile, Provider, User
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_it_refuses_a_second_email_that_differs_only_in_case_at_the_database():
    User.objects.create_user(username="first", email="Ada@Example.com", password=DEFAULT_PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        # .create() skips model validation: the refusal comes from the database constraint.
        User.objects.create(username="second", email="ada@example.COM")
    assert User.objects.count() == 1


def test_it_refuses_a_second_username_that_differs_only_in_case():
    UserFactory(username="ada")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ADA", email="other@example.com")


def test_validation_reports_a_taken_email_as_a_message_not_a_crash():
    UserFactory(email="ada@example.com")
    candidate = User(username="newcomer", email="ADA@example.com")
    with pytest.raises(ValidationError, match="A user with this email address already exists."):
        candidate.full_clean()


def test_it_defaults_to_the_local_provider_with_timestamps():
    user = UserFactory()
    assert user.provider == Provider.LOCAL
    assert user.created_at is not None
    assert user.updated_at >= user.created_at


def test_sign_in_by_username_ignores_case():
    UserFactory(username="ada")
    assert authenticate(username="ADA", password=DEFAULT_PASSWORD) is not None


def test_create_user_makes_exactly_one_profile():
    user = User.objects.create_user(username="ada", email="ada@example.com", password=DEFAULT_PASSWORD)
    assert Profile.objects.filter(user=user).count() == 1


def test_create_superuser_makes_exactly_one_profile():
    user = User.objects.create_superuser(username="root", email="root@example.com", password=DEFAULT_PASSWORD)
    assert Profile.objects.filter(user=user).count() == 1


def test_saving_a_user_again_adds_no_profile():
    user = User.objects.create_user(username="ada", email="ada@example.com", password=DEFAULT_PASSWORD)
    user.email = "ada@example.org"
    user.save()
    assert Profile.objects.filter(user=user).count() == 1


def test_a_plain_save_is_only_a_save():
    # Profiles are made by the paths that create users (manager, allauth's adapters, the admin), not by save().
    User(username="ada", email="ada@example.com").save()
    assert not Profile.objects.filter(user__username="ada").exists()


def test_the_createsuperuser_command_makes_exactly_one_profile(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", DEFAULT_PASSWORD)
    call_command("createsuperuser", "--noinput", username="boss", email="boss@example.com", verbosity=0)
    user = User.objects.get(username="boss")
    assert user.is_superuser
    assert Profile.objects.filter(user=user).count() == 1


def test_a_failed_profile_insert_leaves_no_user_behind(monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise IntegrityError("profile insert failed")

    monkeypatch.setattr(Profile, "save", broken_save)
    with pytest.raises(IntegrityError):
        User.objects.create_user(username="ada", email="ada@example.com", password=DEFAULT_PASSWORD)
    assert not User.objects.filter(username="ada").exists()


def test_names_come_from_the_profile():
    user = UserFactory(username="ada")
    assert user.get_full_name() == "ada"
    user.profile.first_name, user.profile.last_name = "Ada", "Lovelace"
    user.profile.save()
    assert user.get_full_name() == "Ada Lovelace"
    assert user.get_short_name() == "Ada"


def test_the_createsuperuser_command_makes_a_staff_user_whose_address_is_verified(monkeypatch, client):
    from allauth.account.models import EmailAddress

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", DEFAULT_PASSWORD)
    call_command("createsuperuser", "--noinput", username="boss", email="boss@example.com", verbosity=0)
    address = EmailAddress.objects.get(user__username="boss")
    assert (address.email, address.verified, address.primary) == ("boss@example.com", True, True)
    # So the first sign-in goes straight in, not to "verify your email".
    response = client.post("/accounts/login/", {"login": "boss", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    # Staff must set up a second factor first (accounts.mfa; tests/accounts/test_mfa_required.py).
    assert client.get("/admin/")["Location"] == "/accounts/2fa/"


def test_make_run_says_the_staff_user_can_sign_in_right_away():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run(["make", "-n", "run"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert "manage.py createsuperuser" in printed
    assert "its email address is marked verified: sign in at http://127.0.0.1:8000/accounts/login/" in printed
