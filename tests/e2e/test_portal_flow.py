"""The account portal in a real browser: sign up, verify, sign in, edit the profile, sign out, sign in by code.

Forms are found by the `name` of their inputs and buttons by `type=submit`, never by labels or CSS
classes, so restyling the templates does not break the test.
"""

import io
import re
import time
from urllib.parse import urlsplit

import pytest
from django.core import mail
from PIL import Image

from accounts.models import User

pytestmark = pytest.mark.browser

SCREENSHOT_FOLDER = "portal"

EMAIL = "e2e.walker@example.com"
USERNAME = "e2ewalker"
PASSWORD = "Corr3ct-Horse-Battery"
FIRST_NAME = "Ada"
LAST_NAME = "Lovelace-Byron"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 110, 200)).save(out, format="PNG")
    return out.getvalue()


CONFIRM_LINK = re.compile(r"https?://\S+?/accounts/confirm-email/[^/\s]+/")
LOGIN_CODE = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


def path_is(path: str):
    """A URL predicate for page.wait_for_url: the path matches exactly (any query string)."""
    return lambda url: urlsplit(url).path == path


def form_with(page, input_name: str):
    """The one form on the page that holds an input with this name."""
    form = page.locator("form", has=page.locator(f'[name="{input_name}"]'))
    assert form.count() == 1, f"expected one form with an input named {input_name!r}, found {form.count()}"
    return form


def submit(form) -> None:
    button = form.locator('button[type="submit"], input[type="submit"]')
    # A form may carry secondary buttons (the code form has "Cancel"): the first one is the primary action.
    button.first.click()


def sign_out(page, screenshot) -> None:
    from playwright.sync_api import expect

    logout_form = page.locator('form[method="post" i][action="/accounts/logout/"]')
    if logout_form.count() == 0:
        # No sign-out button on this page: allauth's GET page asks to confirm with a POST.
        page.goto("/accounts/logout/")
        assert urlsplit(page.url).path == "/accounts/logout/"
        logout_form = page.locator('form[method="post" i][action="/accounts/logout/"]')
        expect(logout_form).to_have_count(1)
        screenshot("logout-confirm")
    submit(logout_form.first)
    page.wait_for_url(path_is("/"))


def wait_for_mail(count: int, timeout: float = 10.0):
    """The newest mail, once the outbox holds `count` messages (sent from the live server's thread)."""
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count:
        assert time.monotonic() < deadline, f"expected {count} mails, got {[m.subject for m in mail.outbox]}"
        time.sleep(0.05)
    return mail.outbox[-1]


def test_sign_up_verify_sign_in_edit_profile_sign_out_and_sign_in_by_code(page, live_server, screenshot):
    from playwright.sync_api import expect

    body = page.locator("body")
    mail.outbox.clear()

    # --- Sign up --------------------------------------------------------------------------
    page.goto("/accounts/signup/")
    assert urlsplit(page.url).path == "/accounts/signup/"
    form = form_with(page, "password2")
    for name in ("email", "username", "password1", "password2"):
        expect(form.locator(f'input[name="{name}"]')).to_be_visible()
    screenshot("signup")
    form.locator('input[name="email"]').fill(EMAIL)
    form.locator('input[name="username"]').fill(USERNAME)
    form.locator('input[name="password1"]').fill(PASSWORD)
    form.locator('input[name="password2"]').fill(PASSWORD)
    submit(form)

    # Mandatory verification: no session yet, a "check your mail" page instead.
    page.wait_for_url(path_is("/accounts/confirm-email/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(body).to_contain_text(EMAIL)
    screenshot("verification-sent")
    user = User.objects.get(username=USERNAME)
    assert user.email == EMAIL
    assert user.emailaddress_set.get(email=EMAIL).verified is False

    # --- Verify the address from the mail -------------------------------------------------
    message = wait_for_mail(1)
    assert message.to == [EMAIL]
    match = CONFIRM_LINK.search(message.body)
    assert match, f"no confirmation link in the mail:\n{message.body}"
    link = urlsplit(match.group(0))
    assert f"{link.scheme}://{link.netloc}" == live_server.url, "the link must point at the site that sent it"

    page.goto(match.group(0))
    assert urlsplit(page.url).path == link.path
    expect(body).to_contain_text(EMAIL)
    screenshot("confirm-email")
    # Opening the link alone must not confirm (mail scanners fetch links): a POST does.
    assert user.emailaddress_set.get(email=EMAIL).verified is False
    # The form posts back to a confirm-email URL (allauth re-signs the key, so not byte-identical).
    confirm_form = page.locator('form[method="post" i][action^="/accounts/confirm-email/"]')
    expect(confirm_form).to_have_count(1)
    submit(confirm_form)

    # Confirming signs the person in (same browser, within allauth's login-on-confirmation window).
    page.wait_for_url(path_is("/accounts/profile/"))
    assert user.emailaddress_set.get(email=EMAIL).verified is True
    expect(body).to_contain_text(USERNAME)
    sign_out(page, screenshot)

    # --- Sign in with email and password --------------------------------------------------
    page.goto("/accounts/login/")
    form = form_with(page, "password")
    expect(form.locator('input[name="login"]')).to_be_visible()
    screenshot("login")
    form.locator('input[name="login"]').fill(EMAIL)
    form.locator('input[name="password"]').fill(PASSWORD)
    submit(form)

    page.wait_for_url(path_is("/accounts/profile/"))
    expect(body).to_contain_text(EMAIL)
    expect(body).to_contain_text(USERNAME)

    # --- Edit the profile: names and an uploaded picture ----------------------------------
    form = form_with(page, "picture")
    for name in ("first_name", "last_name"):
        expect(form.locator(f'input[name="{name}"]')).to_have_value("")
    expect(page.locator(".profile-username")).to_have_text(USERNAME)
    expect(page.locator("img.avatar")).to_have_count(0)
    screenshot("profile-before")
    form.locator('input[name="first_name"]').fill(FIRST_NAME)
    form.locator('input[name="last_name"]').fill(LAST_NAME)
    form.locator('input[name="picture"]').set_input_files(
        {"name": "ada.png", "mimeType": "image/png", "buffer": png_bytes()}
    )
    submit(form)

    page.wait_for_url(path_is("/accounts/profile/"))
    expect(body).to_contain_text("Your new picture and profile are saved.")
    page.reload()
    assert urlsplit(page.url).path == "/accounts/profile/"
    form = form_with(page, "picture")
    expect(form.locator('input[name="first_name"]')).to_have_value(FIRST_NAME)
    expect(form.locator('input[name="last_name"]')).to_have_value(LAST_NAME)
    preview = page.locator("img.avatar")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 512
    screenshot("profile-after")
    user.profile.refresh_from_db()
    assert (user.profile.first_name, user.profile.last_name) == (FIRST_NAME, LAST_NAME)
    assert user.profile.picture.name.endswith(".webp")

    # --- Sign out -------------------------------------------------------------------------
    sign_out(page, screenshot)
    expect(body).not_to_contain_text(USERNAME)
    screenshot("signed-out")
    page.goto("/accounts/profile/")
    assert urlsplit(page.url).path == "/accounts/login/", "the profile must need a session again"

    # --- Sign in with an emailed code -----------------------------------------------------
    mails_before = len(mail.outbox)
    page.goto("/accounts/login/code/")
    assert urlsplit(page.url).path == "/accounts/login/code/"
    form = form_with(page, "email")
    screenshot("code-request")
    form.locator('input[name="email"]').fill(EMAIL)
    submit(form)

    page.wait_for_url(path_is("/accounts/login/code/confirm/"))
    form = form_with(page, "code")
    expect(form.locator('input[name="code"]')).to_be_visible()
    screenshot("code-entry")
    message = wait_for_mail(mails_before + 1)
    assert message.to == [EMAIL]
    match = LOGIN_CODE.search(message.body)
    assert match, f"no 6-digit code in the mail:\n{message.body}"
    form.locator('input[name="code"]').fill(match.group(1))
    submit(form)

    page.wait_for_url(path_is("/accounts/profile/"))
    expect(body).to_contain_text(EMAIL)
    expect(body).to_contain_text(USERNAME)
    form = form_with(page, "picture")
    expect(form.locator('input[name="first_name"]')).to_have_value(FIRST_NAME)
    screenshot("signed-in-by-code")
