"""Two-factor authentication in Chromium (issue 16): an authenticator app and a passkey enrolled and
used to sign in, a recovery code that works once, "trust this browser", and staff kept on the setup
page until they have a factor. Passkeys use Chromium's virtual authenticator (DevTools protocol),
no real device; TOTP codes are computed with allauth's own functions."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.shell import DESKTOP, PHONE
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa_helpers import enrol_totp, recovery_codes, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "mfa"


@pytest.fixture
def shots(page, request):
    """Full-page screenshots at both sizes, desktop (1280x900) and phone (390x844), in
    artifacts/screenshots/mfa/<test>/NN-<name>-<size>.png (a folder per test: each test here
    shows different pages)."""
    folder = SCREENSHOTS / SCREENSHOT_FOLDER / request.node.name.removeprefix("test_")[:60]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    taken = []

    def take(name: str) -> None:
        taken.append(name)
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.screenshot(path=str(folder / f"{len(taken):02d}-{name}-{size}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    return take


def sign_in_with_password(page, login: str) -> None:
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(re.compile(r".*/$"))


def confirm_password(page) -> None:
    """allauth's "confirm access" step in front of MFA changes."""
    page.wait_for_url(re.compile(r".*/accounts/reauthenticate/"))
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()


def enter_code(page, code: str) -> None:
    page.locator('input[name="code"]').fill(code)
    page.locator('main form[method="post"] button[type="submit"]').first.click()


def add_virtual_authenticator(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def test_a_member_sets_up_an_authenticator_app_and_signs_in_with_its_code(page, shots):
    UserFactory(username="tina", email="tina@example.com")
    sign_in_with_password(page, "tina")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Two-factor authentication").click()
    assert page.get_by_role("heading", name="Two-factor authentication", level=1).is_visible()
    shots("index-nothing-set-up")

    page.get_by_role("link", name="Set up an authenticator app").click()
    confirm_password(page)
    page.wait_for_url(re.compile(r".*/accounts/2fa/totp/activate/"))
    qr = page.locator("img.totp-qr")
    assert qr.is_visible()
    assert qr.evaluate("(img) => img.complete && img.naturalWidth > 0"), "the QR code renders under the CSP"
    shots("totp-activate")
    secret = page.locator("#authenticator_secret").input_value()
    enter_code(page, "123456" if totp_code(secret) != "123456" else "654321")
    assert page.locator(".errorlist").is_visible(), "a wrong code is refused"
    enter_code(page, totp_code(secret))

    # The recovery codes, shown this once, with a download of the same codes.
    page.wait_for_url(re.compile(r".*/accounts/2fa/recovery-codes/$"))
    codes = page.locator("#recovery_codes").input_value().split()
    assert len(codes) == 10
    download = page.get_by_role("link", name="Download codes")
    with page.expect_download() as info:
        download.click()
    saved = info.value
    assert saved.suggested_filename == "gatehouse-recovery-codes.txt"
    text = Path(saved.path()).read_text()
    assert all(code in text for code in codes)
    shots("recovery-codes-shown-once")
    page.get_by_role("link", name="I have saved them").click()
    page.goto("/accounts/2fa/recovery-codes/")
    assert page.locator("#recovery_codes").count() == 0, "shown once only"
    assert page.get_by_text("10 of 10 codes left").is_visible()
    page.goto("/accounts/2fa/")
    assert page.get_by_text("Sign-in asks for the 6-digit code").is_visible()
    shots("index-app-on")

    sign_out(page)
    sign_in_with_password(page, "tina")
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    shots("sign-in-code-step")
    enter_code(page, totp_code(secret, steps_from_now=1))
    page.wait_for_url(re.compile(r".*/accounts/2fa/trust/"))
    shots("trust-this-browser")
    page.get_by_role("button", name=re.compile("Don.t trust", re.I)).click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    assert page.locator(".nav-user").inner_text() == "Signed in as tina"


def test_a_recovery_code_signs_in_once_only(page):
    member = UserFactory(username="rita", email="rita@example.com")
    enrol_totp(member)
    code = recovery_codes(member)[0]
    sign_in_with_password(page, "rita")
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    enter_code(page, code)
    page.wait_for_url(re.compile(r".*/accounts/2fa/trust/"))
    page.get_by_role("button", name=re.compile("Don.t trust", re.I)).click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    assert len(recovery_codes(member)) == 9
    sign_out(page)

    sign_in_with_password(page, "rita")
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    enter_code(page, code)
    assert page.get_by_text("Incorrect code.").is_visible()
    assert re.search(r"/accounts/2fa/authenticate/", page.url)
    page.goto("/accounts/profile/")
    assert not re.search(r"/accounts/profile/", page.url), "not signed in"


def test_a_trusted_browser_skips_the_code_for_the_configured_days_and_others_do_not(page, browser, live_server):
    member = UserFactory(username="theo", email="theo@example.com")
    secret = enrol_totp(member)
    sign_in_with_password(page, "theo")
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    enter_code(page, totp_code(secret))
    page.wait_for_url(re.compile(r".*/accounts/2fa/trust/"))
    page.get_by_role("button", name=re.compile("Trust for (2 weeks|14 days)")).click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "mfa_trusted"]
    expires = datetime.fromtimestamp(cookie["expires"], tz=UTC)
    assert abs(expires - (datetime.now(tz=UTC) + timedelta(days=14))) < timedelta(minutes=5)
    assert cookie["httpOnly"]
    sign_out(page)

    sign_in_with_password(page, "theo")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))  # no code step in this browser

    other = browser.new_context(base_url=live_server.url)
    try:
        elsewhere = other.new_page()
        sign_in_with_password(elsewhere, "theo")
        elsewhere.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    finally:
        other.close()


def test_a_member_adds_a_passkey_and_signs_in_with_it_alone(page, shots):
    UserFactory(username="pia", email="pia@example.com")
    add_virtual_authenticator(page)
    sign_in_with_password(page, "pia")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Passkeys").click()
    shots("passkeys-none")
    page.get_by_role("link", name="Add a passkey or security key").last.click()
    confirm_password(page)
    page.wait_for_url(re.compile(r".*/accounts/2fa/webauthn/add/"))
    assert page.get_by_label("Use it as a passkey: sign in with this key alone").is_checked()
    page.get_by_label("Name").fill("Work laptop")
    shots("passkey-add")
    page.get_by_role("button", name="Add key").click()
    page.wait_for_url(re.compile(r".*/accounts/2fa/recovery-codes/$"))  # first factor: codes come with it
    page.get_by_role("link", name="I have saved them").click()
    page.goto("/accounts/2fa/webauthn/")
    row = page.locator(".row", has_text="Work laptop")
    assert row.get_by_text("Passkey").is_visible()
    shots("passkeys-list")

    sign_out(page)
    page.goto("/accounts/login/")
    shots("sign-in-page-with-passkey")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    assert page.locator(".nav-user").inner_text() == "Signed in as pia"

    # Signing in with the password, the key is the second step (the code form stays for recovery codes).
    sign_out(page)
    sign_in_with_password(page, "pia")
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    shots("sign-in-key-step")
    page.get_by_role("button", name="Use a passkey or security key").click()
    page.wait_for_url(re.compile(r".*/accounts/2fa/trust/"))
    page.get_by_role("button", name=re.compile("Don.t trust", re.I)).click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))


def test_a_cancelled_passkey_prompt_says_so_on_the_page(page):
    UserFactory(username="cleo", email="cleo@example.com")
    add_virtual_authenticator(page)  # holding no passkey for this site: Chromium's prompt fails
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.locator("[data-webauthn-error]").wait_for(state="visible", timeout=30_000)
    assert "did not use a passkey" in page.locator("[data-webauthn-error]").inner_text()
    assert re.search(r"/accounts/login/", page.url)


def test_staff_without_a_factor_meet_the_setup_page_and_can_set_one_up(page, shots):
    UserFactory(username="sam", email="sam@example.com", is_staff=True, is_superuser=True)
    sign_in_with_password(page, "sam")
    page.goto("/admin/billing/plan/")
    page.wait_for_url(re.compile(r".*/accounts/2fa/$"))
    assert page.get_by_text("Your account must use two-factor authentication.").count() == 1
    shots("staff-must-set-up")
    page.get_by_role("link", name="Set up an authenticator app").click()
    confirm_password(page)
    secret = page.locator("#authenticator_secret").input_value()
    enter_code(page, totp_code(secret))
    page.wait_for_url(re.compile(r".*/accounts/2fa/recovery-codes/$"))
    # The admin asks for the factor once: this session's sign-in was the password alone.
    page.goto("/admin/billing/plan/")
    page.wait_for_url(re.compile(r".*/accounts/2fa/reauthenticate/"))
    shots("staff-admin-asks-for-the-code")
    enter_code(page, totp_code(secret, steps_from_now=1))
    page.wait_for_url(re.compile(r".*/admin/billing/plan/$"))
