"""Issue 15, "What it must show": axe-core over every portal page and state, at 1280x900 and 390x844,
with no serious or critical violation on our own templates.

axe-core is the npm package from the local install (node_modules/axe-core, pinned in
package-lock.json), never a CDN. The Content-Security-Policy refuses inline scripts, so
``page.add_script_tag`` (an inline <script>) cannot load it; ``page.evaluate`` runs its source over
the DevTools protocol, which the policy does not govern: each visitor's browser context has it as an
init script, in every document before the page's own scripts (test_axe_runs_under_our_policy pins it).

One browser, one browser context and one live server for the module; each visitor (signed out,
free, Pro, past due, cancelling, staff...) is signed in once, and its session cookie is put in the
context when its pages come. The cast is
committed outside any test transaction (the live server sees only committed rows) and the database
flushed back to its migrated state when the module ends.

Every test writes its findings (all impacts) to artifacts/accessibility/axe-report.json. Third-party
pages (Django admin, Swagger UI) are swept too but only reported, never failed.
"""

import functools
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import OperationalError, connection, connections
from django.test import Client
from django.test.utils import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from billing.management.commands.seed_demo import seed_demo
from billing.models import Plan, Subscription, SubscriptionStatus
from tests.api.authenticators import SecurityKey
from tests.billing.fake_billing import ensure_demo_plans, ensure_periodic_schedule, subscribe_through_fake, sync_plans
from tests.e2e.shell import SIZES
from tests.factories import UserFactory
from tests.fake_stripe import FAKE_API_KEY
from tests.fake_stripe.sdk import stripe_sdk_pointed_at
from tests.mfa_helpers import enrol_totp, totp_code

# django_db: so that pytest-django sets up the test database when only this module runs (its own
# live server is not one of the fixtures it looks for); the cast itself is committed by `site`.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"  # package-lock.json's
REPORT = ROOT / "artifacts" / "accessibility" / "axe-report.json"
FAILING = ("serious", "critical")
PASSWORD = "correct-horse-battery-staple"  # tests.factories.DEFAULT_PASSWORD, every user of the cast's
# The project's URLs plus views that fail on purpose (403, 429, 500 pages).
URLCONF = "tests.urls"
# Pages swept for their status's template, whatever the URL that makes them.
ERROR_PAGE_STATUSES = (403, 404, 429, 500, 503)

# --- what each page does before the sweep ------------------------------------------------------

_unique = count(1)


def submit(page, form: str = "main form[method=post]") -> None:
    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").first.click()


def fill_sign_in(login: str, password: str = PASSWORD):
    def then(page, cast):
        page.locator('input[name="login"]').fill(login)
        page.locator('input[name="password"]').fill(password)
        submit(page)

    return then


def fill_sign_up(username: str | None = None):
    def then(page, cast):
        name = username or f"newcomer{next(_unique)}"
        page.locator('input[name="email"]').fill(f"{name}.new@example.com")
        page.locator('input[name="username"]').fill(name)
        page.locator('input[name="password1"]').fill("Corr3ct-Horse-Battery")
        page.locator('input[name="password2"]').fill("Corr3ct-Horse-Battery")
        submit(page)

    return then


def fill_email(email: str, then_also: Callable | None = None):
    def then(page, cast):
        without_browser_validation(page)
        page.locator('main input[name="email"]').first.fill(email)
        submit(page)
        if then_also is not None:
            then_also(page, cast)

    return then


def wrong_code(page, cast):
    page.locator('input[name="code"]').fill("000000")
    submit(page)


def signed_up_then(action: Callable):
    """Sign up (the check-your-email page), then do ``action`` there."""

    def then(page, cast):
        fill_sign_up()(page, cast)
        action(page, cast)

    return then


def resend(page, cast):
    # The button waits out the cooldown (disabled); a page left open from before sends it anyway.
    with page.expect_navigation():
        page.locator('form[action$="/confirm-email/resend/"]').evaluate("(form) => form.submit()")


def without_browser_validation(page) -> None:
    """What the server says (a browser's own check does not run for everyone: old ones, some
    assistive tools, a form sent by script); the browser would stop an invalid address first."""
    page.locator("form").evaluate_all("(forms) => forms.forEach((form) => { form.noValidate = true; })")


def change_to_bad_address(page, cast):
    without_browser_validation(page)
    page.locator('form[action$="/change-address/"] input[name="email"]').fill("not-an-address")
    submit(page, 'form[action$="/change-address/"]')


def wrong_old_password(page, cast):
    reauthenticate_if_asked(page, cast)  # the password change asks for the password first (allauth)
    page.locator('input[name="oldpassword"]').fill("not-the-password")
    page.locator('input[name="password1"]').fill("An0ther-Horse-Battery")
    page.locator('input[name="password2"]').fill("An0ther-Horse-Battery")
    submit(page)


def reauthenticate_if_asked(page, cast):
    if "/accounts/reauthenticate/" in page.url:
        page.locator('input[name="password"]').fill(PASSWORD)
        submit(page)
        assert "/reauthenticate/" not in page.url, "the password was not accepted again"


# An authenticator app's codes: each is accepted once, and one period either side counts
# (MFA_TOTP_TOLERANCE), so the sweep's sign-ins at both sizes take different periods' codes.
_code_steps = itertools.cycle([0, 1, -1])


def signed_in_up_to_the_code_step(page, cast):
    fill_sign_in("ada2fa")(page, cast)
    assert urlsplit(page.url).path == reverse("mfa_authenticate"), page.url


def signed_in_up_to_trust(page, cast):
    fill_sign_in("ada2fa")(page, cast)
    page.locator('input[name="code"]').fill(totp_code(cast["ada2fa-secret"], steps_from_now=next(_code_steps)))
    submit(page)
    assert urlsplit(page.url).path == reverse("mfa_trust"), page.url


def webauthn_key_page(action: str):
    def path(cast) -> str:
        key = Authenticator.objects.get(user=cast["ada2fa"], type=Authenticator.Type.WEBAUTHN)
        return reverse(f"mfa_{action}_webauthn", kwargs={"pk": key.pk})

    return path


def without_csrf_cookie(page, cast):
    page.context.clear_cookies(name=settings.CSRF_COOKIE_NAME)
    fill_sign_in("free")(page, cast)


def reload(page, cast):
    page.reload()


def open_menu(page, cast):
    page.locator("details.nav-menu").evaluate("(menu) => { menu.open = true; }")


def reset_link(cast) -> str:
    user = cast["free"]
    key = default_token_generator.make_token(user)
    return reverse("account_reset_password_from_key", kwargs={"uidb36": user_pk_to_url_str(user), "key": key})


def confirmation_link(cast) -> str:
    address = EmailAddress.objects.get(user=cast["newbie"])
    return reverse("account_confirm_email", kwargs={"key": EmailConfirmationHMAC(address).key})


def user_change_page(cast) -> str:
    return reverse("admin:accounts_user_change", args=[cast["free"].pk])


# --- the pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    id: str
    visitor: str  # "" signed out (cookies cleared first), else a key of the cast
    path: str | Callable  # or (cast) -> path
    then: Callable | None = None  # (page, cast): a form to fill and send, a reload...
    status: int = 200  # of the page swept (the last document loaded)
    shows: str = ""  # text the page swept must show: proof it is the state named
    covers: str = ""  # the URL name swept, when the path does not resolve to it
    third_party: bool = False  # reported, never failing
    settings: dict = field(default_factory=dict)
    database_down: bool = False


PAGES = [
    # Signed out.
    Page("home", "", "/", shows="Gatehouse"),
    Page("home-menu-open", "", "/", then=open_menu),
    Page("status", "", "/status/", shows="Everything is working."),
    Page("pricing-signed-out", "", "/billing/pricing/", shows="Pricing"),
    Page("pricing-signed-out-needs-pro", "", "/billing/pricing/?needs=pro"),
    Page("sign-up", "", "/accounts/signup/"),
    Page("sign-up-errors", "", "/accounts/signup/", then=fill_sign_up("free"), shows="username"),
    Page("sign-in", "", "/accounts/login/"),
    Page("sign-in-errors", "", "/accounts/login/", then=fill_sign_in("free", "not-the-password")),
    Page(
        "sign-in-unverified",
        "",
        "/accounts/login/",
        then=fill_sign_in("newbie"),
        covers="account_login",
        shows="You can sign in once your email address is confirmed.",
    ),
    Page(
        "check-your-email",
        "",
        "/accounts/signup/",
        then=fill_sign_up(),
        covers="account_email_verification_sent",
        shows="Check your email",
    ),
    Page(
        "check-your-email-resent-too-soon",
        "",
        "/accounts/signup/",
        then=signed_up_then(resend),
        covers="accounts_resend_verification",
        shows="We sent you an email a moment ago.",
    ),
    Page(
        "check-your-email-bad-address",
        "",
        "/accounts/signup/",
        then=signed_up_then(change_to_bad_address),
        status=422,
        covers="accounts_change_pending_address",
    ),
    Page("check-your-email-nothing-pending", "", "/accounts/confirm-email/"),
    Page("code-request", "", "/accounts/login/code/"),
    Page(
        "code-entry",
        "",
        "/accounts/login/code/",
        then=fill_email("free@example.com"),
        covers="account_confirm_login_code",
    ),
    Page(
        "code-entry-wrong-code",
        "",
        "/accounts/login/code/",
        then=fill_email("free@example.com", wrong_code),
        covers="account_confirm_login_code",
        shows="That code is not right.",
    ),
    Page("password-reset", "", "/accounts/password/reset/"),
    Page("password-reset-errors", "", "/accounts/password/reset/", then=fill_email("not-an-address")),
    Page(
        "password-reset-sent",
        "",
        "/accounts/password/reset/",
        then=fill_email("free@example.com"),
        covers="account_reset_password_done",
    ),
    Page("password-reset-done-page", "", "/accounts/password/reset/done/"),
    Page("password-reset-from-key", "", reset_link, covers="account_reset_password_from_key"),
    Page("password-reset-bad-key", "", "/accounts/password/reset/key/1-bad-key/"),
    Page("password-reset-from-key-done", "", "/accounts/password/reset/key/done/"),
    Page("confirm-email", "", confirmation_link, covers="account_confirm_email"),
    Page("confirm-email-bad-key", "", "/accounts/confirm-email/bad-key/"),
    Page("account-inactive", "", "/accounts/inactive/"),
    Page("google-sign-in", "", "/accounts/google/login/"),
    Page("github-sign-in", "", "/accounts/github/login/"),
    Page("google-callback-without-state", "", "/accounts/google/login/callback/", status=401),
    Page("github-callback-without-state", "", "/accounts/github/login/callback/", status=401),
    Page("social-login-cancelled", "", "/accounts/3rdparty/login/cancelled/"),
    Page("social-login-error", "", "/accounts/3rdparty/login/error/", status=401),
    Page("csrf-failure", "", "/accounts/login/", then=without_csrf_cookie, status=403, covers="account_login"),
    # Error pages.
    Page("404", "", "/no-such-page/", status=404),
    Page("403", "", "/test/forbidden", status=403),
    Page("429", "", "/test/limited", then=reload, status=429),
    Page("500", "", "/test/explode", status=500, shows="quote this reference"),
    Page(
        "503",
        "",
        "/billing/pricing/",
        status=503,
        database_down=True,
        covers="billing_pricing",
        shows="Gatehouse is temporarily unavailable",
    ),
    # A free member.
    Page("home-signed-in", "free", "/"),
    Page("home-signed-in-menu-open", "free", "/", then=open_menu),
    Page("pricing-free", "free", "/billing/pricing/"),
    Page("pricing-free-needs-pro", "free", "/billing/pricing/?needs=pro"),
    Page("pricing-checkout-cancelled", "free", "/billing/pricing/?checkout=canceled", shows="nothing was charged"),
    Page(
        "pro-page-as-free-member",
        "free",
        "/billing/reports/",
        covers="billing_pro_reports",
        shows="This page is part of the Pro plan and above.",
    ),
    Page(
        "subscribe-url-typed-in",
        "free",
        "/billing/subscribe/",
        shows="Use the buttons on this page to subscribe to a plan.",
    ),
    Page(
        "checkout-success-without-session",
        "free",
        "/billing/checkout/success/",
        shows="There is no checkout of yours to confirm.",
    ),
    Page("subscription-free", "free", "/billing/subscription/"),
    Page("invoices-none", "free", "/billing/history/"),
    Page("profile", "free", "/accounts/profile/"),
    Page("email-addresses", "free", "/accounts/email/"),
    Page("password-change", "free", "/accounts/password/change/"),
    Page("password-change-errors", "free", "/accounts/password/change/", then=wrong_old_password),
    Page("sessions", "free", "/accounts/sessions/"),
    Page("connected-accounts-none", "free", "/accounts/3rdparty/"),
    Page("reauthenticate", "free", "/accounts/reauthenticate/"),
    Page("deactivate", "free", "/accounts/deactivate/", then=reauthenticate_if_asked, shows="Deactivate your account"),
    Page("sign-out", "free", "/accounts/logout/"),
    Page(
        "cancel-url-typed-in-free", "free", "/billing/subscription/cancel/", shows="You have no subscription to cancel."
    ),
    # A member who signed up with Google (no password of their own).
    Page("connected-accounts-google", "social", "/accounts/3rdparty/"),
    Page("set-password", "social", "/accounts/password/set/"),
    # Subscribers.
    Page("pricing-pro", "pro", "/billing/pricing/"),
    Page("pricing-pro-needs-business", "pro", "/billing/pricing/?needs=business"),
    Page("subscription-pro", "pro", "/billing/subscription/", shows="Renews on"),
    Page("invoices", "pro", "/billing/history/"),
    Page("pro-reports", "pro", "/billing/reports/"),
    Page(
        "deactivate-with-subscription",
        "pro",
        "/accounts/deactivate/",
        then=reauthenticate_if_asked,
        shows="Deactivate your account",
    ),
    Page(
        "resume-url-typed-in",
        "pro",
        "/billing/subscription/resume/",
        shows="Your subscription is not set to end: there is nothing to undo.",
    ),
    Page(
        "portal-url-typed-in",
        "pro",
        "/billing/portal/",
        shows="Use the button on this page to manage your payment method and invoices.",
    ),
    Page("subscription-past-due", "late", "/billing/subscription/", shows="Your last payment failed."),
    Page("invoices-past-due", "late", "/billing/history/"),
    Page("subscription-cancelling", "leaving", "/billing/subscription/"),
    Page("subscription-ended", "ended", "/billing/subscription/", shows="Ended on"),
    Page("change-plan", "switcher", "/billing/subscription/change/?plan=business-monthly", shows="Switch to Business"),
    # Staff: the operator's banner while billing is not configured.
    Page(
        "profile-staff-billing-unconfigured",
        "staff",
        "/accounts/profile/",
        settings={"STRIPE_SECRET_KEY": ""},
        shows="billing is not configured",
    ),
    Page(
        "pricing-billing-unconfigured",
        "free",
        "/billing/pricing/",
        settings={"STRIPE_SECRET_KEY": ""},
        shows="Paid plans are not available yet",
    ),
    # Two-factor authentication (allauth.mfa in our layout) and the security history.
    Page("security", "free", "/accounts/security/", shows="Security"),
    Page("2fa-none", "free", "/accounts/2fa/"),
    Page("2fa-activate-totp", "free", "/accounts/2fa/totp/activate/", then=reauthenticate_if_asked, shows="code"),
    Page("webauthn-none", "free", "/accounts/2fa/webauthn/", then=reauthenticate_if_asked),
    Page("webauthn-add", "free", "/accounts/2fa/webauthn/add/", then=reauthenticate_if_asked),
    Page("2fa-with-totp-and-key", "ada2fa", "/accounts/2fa/"),
    Page("security-with-factors", "ada2fa", "/accounts/security/"),
    Page("recovery-codes", "ada2fa", "/accounts/2fa/recovery-codes/", then=reauthenticate_if_asked),
    Page("recovery-codes-generate", "ada2fa", "/accounts/2fa/recovery-codes/generate/", then=reauthenticate_if_asked),
    Page("totp-deactivate", "ada2fa", "/accounts/2fa/totp/deactivate/", then=reauthenticate_if_asked),
    Page("webauthn-list", "ada2fa", "/accounts/2fa/webauthn/", then=reauthenticate_if_asked),
    Page(
        "webauthn-edit", "ada2fa", webauthn_key_page("edit"), then=reauthenticate_if_asked, covers="mfa_edit_webauthn"
    ),
    Page(
        "webauthn-remove",
        "ada2fa",
        webauthn_key_page("remove"),
        then=reauthenticate_if_asked,
        covers="mfa_remove_webauthn",
    ),
    Page("mfa-reauthenticate", "ada2fa", "/accounts/2fa/reauthenticate/"),
    Page("mfa-reauthenticate-key", "ada2fa", "/accounts/2fa/webauthn/reauthenticate/"),
    Page("sign-in-code-step", "", "/accounts/login/", then=signed_in_up_to_the_code_step, covers="mfa_authenticate"),
    Page("sign-in-trust-step", "", "/accounts/login/", then=signed_in_up_to_trust, covers="mfa_trust"),
    # Third-party pages: reported, not failing.
    Page("admin-index", "staff", "/admin/", third_party=True),
    Page("admin-users", "staff", "/admin/accounts/user/", third_party=True),
    Page("admin-user-change", "staff", user_change_page, third_party=True),
    Page("api-docs", "", "/api/docs/", third_party=True),
]

# Named URLs of config.urls with no page above, and why.
NOT_PAGES = {
    "livez": "a JSON probe for the load balancer, no HTML",
    "readyz": "a JSON probe for the load balancer, no HTML",
    "healthz": "a JSON monitoring report, no HTML (its page in words is status, swept)",
    "favicon": "a redirect to the icon",
    "accounts_end_session": "POST-only: the per-session sign-out button on the sessions page (swept)",
    "google_login_by_token": "POST-only: Google's one-tap endpoint, no page",
    "accounts_picture": "a profile picture (image/webp), no HTML; shown on the profile page, swept",
    "accounts_remove_picture": "POST-only: the profile page's Remove picture button (swept with the profile)",
    "mfa_download_recovery_codes": "a text file download of the codes, no HTML",
    "mfa_login_webauthn": "the passkey sign-in's JSON/POST endpoint behind the sign-in page's button (swept)",
    "socialaccount_signup": (
        "reached only mid-OAuth with the provider's answer in the session; it is allauth's sign-up "
        "form in our entrance layout and form elements, swept as sign-up"
    ),
}
# Where the portal ends: JSON API, the webhook, the admin (its pages are swept as third-party above).
NOT_PORTAL_PREFIXES = ("api/", "stripe/", "admin/")


# --- the sweep -------------------------------------------------------------------------------------


def size_ids(name: str) -> str:
    size = SIZES[name]
    return f"{size['width']}x{size['height']}"


def _reset_database() -> None:
    """Back to the migrated state: the tables emptied as a transactional test leaves them, plus
    the migrations' rows that the rest of the suite expects (as tests/conftest.py's setup does)."""
    assert "test" in str(connection.settings_dict["NAME"]), "refusing to flush a database that is not a test one"
    call_command("flush", interactive=False, verbosity=0)
    ensure_demo_plans()
    ensure_periodic_schedule()


def _make_cast(fake, site_url: str) -> dict:
    now = timezone.now()
    seed_demo(now=now, password=PASSWORD)  # free, pro, late, leaving, staff
    cast = {user.username: user for user in User.objects.all()}
    cast["newbie"] = UserFactory(username="newbie", email="newbie@example.com", verified=False)
    cast["social"] = UserFactory(username="gina", email="gina@example.com", password=make_password(None))
    SocialAccount.objects.create(user=cast["social"], provider="google", uid="1234567890", extra_data={})
    # Someone with an authenticator app, its recovery codes and a passkey (the 2FA pages' states).
    ada = cast["ada2fa"] = UserFactory(username="ada2fa", email="ada2fa@example.com")
    cast["ada2fa-secret"] = enrol_totp(ada)
    SecurityKey(ada, name="Laptop passkey")
    ended = cast["ended"] = UserFactory(username="ended", email="ended@example.com")
    Subscription.objects.create(
        user=ended,
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_ended",
        stripe_customer_id="cus_ended",
        status=SubscriptionStatus.CANCELED,
        current_period_start=now - timedelta(days=40),
        current_period_end=now - timedelta(days=10),
        ended_at=now - timedelta(days=10),
    )
    # The change-plan page previews the proration with Stripe: a subscription the fake knows.
    switcher = cast["switcher"] = UserFactory(username="switcher", email="switcher@example.com")
    sync_plans("pro-monthly", "business-monthly")
    client = Client()
    client.force_login(switcher)
    with override_settings(SITE_URL=site_url):
        subscribe_through_fake(client, switcher, fake, "pro-monthly")
    return cast


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, fake_stripe_server):
    """The live server (this module's own: pytest-django's would flush the cast after each test),
    billing pointed at the fake Stripe, and the cast; the database reset when the module ends."""
    with django_db_blocker.unblock():
        if User.objects.exists():  # left by an interrupted run (--reuse-db keeps the database)
            _reset_database()
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        billing = override_settings(
            ROOT_URLCONF=URLCONF, STRIPE_SECRET_KEY=FAKE_API_KEY, STRIPE_TEST_SECRET_KEY=FAKE_API_KEY
        )
        billing.enable()
        fake_stripe_server.reset()
        try:
            with stripe_sdk_pointed_at(fake_stripe_server):
                cast = _make_cast(fake_stripe_server, server.url)
                yield server, cast
        finally:
            billing.disable()
            server._live_server_modified_settings.disable()
            server.stop()
            fake_stripe_server.reset()
            _reset_database()


class Visitors:
    """One browser context and page for the whole sweep; each visitor's session is made once,
    before any test's transaction (the rows must be committed: the cache that also holds sessions
    is cleared before each test), and put into the context's cookies when that visitor's turn comes.
    Signed out, the cookies are cleared before every page."""

    def __init__(self, browser, server, cast):
        self.server, self.cast = server, cast
        self.sessions = {}
        for visitor in dict.fromkeys(spec.visitor for spec in PAGES if spec.visitor):
            client = Client()
            client.force_login(cast[visitor])
            self.sessions[visitor] = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.context = browser.new_context(base_url=server.url, viewport=SIZES["desktop"], locale="en-US")
        self.context.set_default_timeout(10_000)
        self.context.set_default_navigation_timeout(15_000)
        # axe in every document, before the page's own scripts (an init script goes over the
        # DevTools protocol, which the page's policy does not govern).
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.page.last_document = None
        self.page.on("response", self._remember)
        self.current = None

    def _remember(self, response):
        if response.request.resource_type == "document" and response.frame == self.page.main_frame:
            self.page.last_document = response

    def page_for(self, visitor: str):
        if visitor != self.current or not visitor:
            self.context.clear_cookies()
            if visitor:
                cookie = {"name": settings.SESSION_COOKIE_NAME, "value": self.sessions[visitor], "url": self.server.url}
                self.context.add_cookies([cookie])
            self.current = visitor
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def visitors(browser, site, django_db_blocker):
    server, cast = site
    with django_db_blocker.unblock():
        everyone = Visitors(browser, server, cast)
        yield everyone
        everyone.close()


@pytest.fixture(scope="module")
def report():
    found = []
    yield found
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(found, indent=2) + "\n")
    third_party = [entry for entry in found if entry["third_party"] and entry["violations"]]
    if third_party:
        print(f"\naxe-core on third-party pages (reported, not failing; details in {REPORT}):")
        for entry in third_party:
            rules = ", ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in entry["violations"])
            print(f"  {entry['page']} at {entry['size']}: {rules}")


@functools.cache
def axe_source() -> str:
    return AXE.read_text()


def run_axe(page) -> dict:
    """axe over the page as it is now (the visitors' contexts load axe into every document)."""
    return page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}  <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    - {' > '.join(map(str, node['target']))}: {summary[:300]}")
    return "\n".join(lines)


@pytest.mark.parametrize("size", list(SIZES), ids=size_ids)
@pytest.mark.parametrize("spec", PAGES, ids=[spec.id for spec in PAGES])
def test_the_page_has_no_serious_or_critical_axe_violation(spec, size, visitors, report, monkeypatch):
    page = visitors.page_for(spec.visitor)
    page.set_viewport_size(SIZES[size])
    path = spec.path(visitors.cast) if callable(spec.path) else spec.path
    with override_settings(**spec.settings):
        if spec.database_down:
            monkeypatch.setattr(type(connections["default"]), "ensure_connection", _refuse)
        page.goto(path)
        if spec.then is not None:
            spec.then(page, visitors.cast)
        monkeypatch.undo()
        page.wait_for_load_state("load")
    assert page.last_document.status == spec.status, f"{spec.id}: {page.url} answered {page.last_document.status}"
    if spec.shows:
        assert spec.shows in page.locator("body").inner_text()
    results = run_axe(page)
    violations = results["violations"]
    report.append(
        {
            "page": spec.id,
            "size": size_ids(size),
            "url": page.url,
            "third_party": spec.third_party,
            "violations": [
                {key: v[key] for key in ("id", "impact", "help", "helpUrl")}
                | {"nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]]}
                for v in violations
            ],
        }
    )
    if spec.third_party:
        return
    failing = [violation for violation in violations if violation["impact"] in FAILING]
    assert not failing, (
        f"{spec.id}: {page.url} at {size_ids(size)}: {len(failing)} serious/critical axe violations\n"
        + describe(failing)
    )


def _refuse(*args, **kwargs):
    raise OperationalError('connection to server at "127.0.0.1", port 1 failed: Connection refused')


def test_axe_runs_under_our_policy_from_the_local_install(browser, site):
    """The policy refuses axe as an inline script tag; given over the DevTools protocol (evaluated,
    or as the init script the visitors' contexts use) it runs."""
    server, _ = site
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        response = page.goto("/accounts/login/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        with pytest.raises(Exception, match="(?i)refused|content security policy|failed"):
            page.add_script_tag(content=axe_source())
        assert page.evaluate("() => typeof window.axe") == "undefined"
        page.evaluate(axe_source())
        assert page.evaluate("() => axe.version") == AXE_VERSION
        context.add_init_script(path=str(AXE))
        page.reload()
        assert page.evaluate("() => axe.version") == AXE_VERSION
        assert run_axe(page)["violations"] == []
    finally:
        context.close()


def test_the_sweep_finds_a_violation_when_there_is_one(visitors):
    """Not a vacuous pass: an image without a text alternative, put on a clean page, is reported."""
    page = visitors.page_for("")
    page.goto("/accounts/login/")
    page.evaluate("() => document.querySelector('main').append(document.createElement('img'))")
    found = {(violation["id"], violation["impact"]) for violation in run_axe(page)["violations"]}
    assert ("image-alt", "critical") in found


def rules_violated(page, rules: list[str]) -> dict:
    results = page.evaluate("(rules) => axe.run(document, {runOnly: {type: 'rule', values: rules}})", rules)
    return {violation["id"]: [node["target"] for node in violation["nodes"]] for violation in results["violations"]}


@pytest.mark.parametrize("size", list(SIZES), ids=size_ids)
def test_the_operators_billing_notice_is_in_a_landmark(visitors, settings, size):
    """axe's "region" (moderate): the notice above the header was outside every landmark."""
    settings.STRIPE_SECRET_KEY = ""
    page = visitors.page_for("staff")
    page.set_viewport_size(SIZES[size])
    page.goto("/accounts/profile/")
    assert page.locator(".operator-bar").is_visible()
    assert rules_violated(page, ["region"]) == {}


def test_the_api_docs_say_their_language_and_have_a_main_landmark_and_a_heading(visitors):
    """Our copy of drf-spectacular's Swagger UI page: axe's html-has-lang (serious), landmark-one-main
    and page-has-heading-one (moderate) failed on it; the rest of the page is Swagger UI's own."""
    page = visitors.page_for("")
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()
    assert rules_violated(page, ["html-has-lang", "landmark-one-main", "page-has-heading-one"]) == {}


def _named_portal_urls() -> set[str]:
    names = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and pattern.name and not route.startswith(NOT_PORTAL_PREFIXES):
                names.add(pattern.name)

    walk(get_resolver("config.urls").url_patterns, "")
    return names


def _covered() -> set[str]:
    covered = set()
    for spec in PAGES:
        if spec.covers:
            covered.add(spec.covers)
        elif not (spec.third_party or callable(spec.path) or spec.status in ERROR_PAGE_STATUSES):
            covered.add(resolve(spec.path.split("?")[0], urlconf="config.urls").url_name)
    return covered


def test_the_sweep_covers_every_named_portal_url():
    named = _named_portal_urls()
    covered = _covered()
    assert named - covered - set(NOT_PAGES) == set(), "portal URLs with no page in PAGES and no reason in NOT_PAGES"
    assert set(NOT_PAGES) - named == set(), "NOT_PAGES names a URL that no longer exists"
    assert set(NOT_PAGES) & covered == set(), "NOT_PAGES names a URL that PAGES sweeps"
    assert covered - named == set(), "PAGES claims to cover a URL name that config.urls does not have"


def test_every_page_id_is_unique():
    ids = [spec.id for spec in PAGES]
    assert len(ids) == len(set(ids))
