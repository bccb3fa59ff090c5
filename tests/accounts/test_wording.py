"""One name per action, sentence case, and the words a person needs, on allauth's pages.

The wording lives in locale/en/LC_MESSAGES/django.po (read before allauth's own catalogue)."""

import gettext
import re
import subprocess
from pathlib import Path

import pytest

from tests.accounts.mail import code_in, last_mail_to

pytestmark = pytest.mark.django_db

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "en" / "LC_MESSAGES"
PAGES = ["/accounts/login/", "/accounts/signup/", "/accounts/login/code/", "/accounts/password/reset/"]


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("path", PAGES)
def test_each_entrance_page_calls_the_actions_by_one_name_in_sentence_case(client, path):
    text = visible_text(client.get(path).content.decode())
    for wrong in ("Sign Up", "Signup", "Sign In", "Sign Out", "Remember Me", "Password Reset", "Reset My Password"):
        assert wrong not in text, f"{wrong!r} on {path}"


def test_the_sign_in_page_offers_create_account_and_labels_the_login_field(client):
    text = visible_text(client.get("/accounts/login/").content.decode())
    assert "New here? Create an account ." in text
    assert "Username or email" in text
    assert "Sign in" in text


def test_the_sign_up_page_is_called_create_account(client):
    page = client.get("/accounts/signup/").content.decode()
    assert re.search(r"<title>\s*Create account", page)
    assert re.search(r"<h1>\s*Create account\s*</h1>", page)
    assert re.search(r'<button class="button button-block" type="submit">\s*Create account\s*</button>', page)


def test_a_wrong_password_after_a_username_does_not_talk_about_an_email(client, user):
    page = client.post("/accounts/login/", {"login": "alice", "password": "wrong-password-1"}).content.decode()
    assert "That username and password do not match an account." in page
    assert "and/or" not in page


def test_a_wrong_password_after_an_address_names_the_address(client, user):
    page = client.post("/accounts/login/", {"login": "alice@example.com", "password": "wrong-1"}).content.decode()
    assert "That email address and password do not match an account." in page


def test_a_dead_password_reset_link_does_not_say_bad_token(client):
    page = client.get("/accounts/password/reset/key/zz-set-password/").content.decode()
    assert "Bad Token" not in page
    assert "This link no longer works" in page


def test_the_code_page_says_when_the_code_expires_and_brings_up_the_number_keypad(client, committing, user):
    with committing():
        client.post("/accounts/login/code/", {"email": "alice@example.com"})
    assert code_in(last_mail_to("alice@example.com"))
    page = client.get("/accounts/login/code/confirm/").content.decode()
    assert "It expires in 5 minutes." in page
    assert "shortly" not in page
    field = re.search(r'<input[^>]*name="code"[^>]*>', page).group(0)
    assert 'inputmode="numeric"' in field
    assert 'autocomplete="one-time-code"' in field


def test_the_compiled_catalogue_matches_its_source():
    """django.mo is committed: it must say what django.po says (`make messages` rebuilds it)."""
    source = LOCALE / "django.po"
    compiled = subprocess.run(["msgfmt", "-o", "-", str(source)], capture_output=True, check=True).stdout
    assert (LOCALE / "django.mo").read_bytes() == compiled
    with (LOCALE / "django.mo").open("rb") as mo:
        assert gettext.GNUTranslations(mo).gettext("Sign Up") == "Create account"
