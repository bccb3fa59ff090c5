"""The Content-Security-Policy in Chromium: our pages, the admin and the API docs run under it with
no violation, and a script injected into a page does not run.

Violations are collected two ways for the whole test, across navigations: the page's
`securitypolicyviolation` events (an init script reports them through a binding; both are set up
over the DevTools protocol, which the policy does not govern) and Chromium's console errors about
Content-Security-Policy or Permissions-Policy (a feature name Chromium does not know is one).
"""

import re

import pytest

from tests.billing.fake_billing import subscribe_through_fake, sync_plans
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa_helpers import enrol_totp, totp_code

pytestmark = pytest.mark.browser

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    directive: event.effectiveDirective, blocked: event.blockedURI, page: event.documentURI, sample: event.sample,
  });
});
"""
POLICY_MESSAGE = re.compile(r"Content.Security.Policy|Permissions.Policy|Refused to", re.IGNORECASE)


@pytest.fixture
def violations(page):
    found = []
    page.expose_binding("reportViolation", lambda source, violation: found.append(violation))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            found.append({"console": message.type, "text": message.text})
            if message.type in ("error", "warning") and POLICY_MESSAGE.search(message.text)
            else None
        ),
    )
    return found


def sign_in(page, login: str) -> None:
    """Fills in the sign-in form of the page it is on."""
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()


def settle(page) -> None:
    # Violations are reported asynchronously; a round trip through the page lets them arrive.
    page.wait_for_load_state("load")
    page.evaluate("() => new Promise((done) => setTimeout(done, 150))")


def test_the_portal_home_and_sign_in_pages_run_with_no_violation(page, violations, transactional_db):
    UserFactory(username="dora", email="dora@example.com")
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/billing/pricing/"):
        response = page.goto(path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        settle(page)
    page.goto("/accounts/login/")
    sign_in(page, "dora")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    page.goto("/billing/subscription/")
    settle(page)
    assert violations == []


def test_the_admin_signs_in_and_lists_users_with_no_violation(page, violations, transactional_db):
    secret = enrol_totp(UserFactory(username="staffer", email="staff@example.com", is_staff=True, is_superuser=True))
    UserFactory(username="member", email="member@example.com")
    page.goto("/admin/")
    page.wait_for_url(re.compile(r".*/accounts/login/\?next="))
    sign_in(page, "staffer")
    # Staff have a second factor: the code step (allauth's page, with its WebAuthn script) comes next.
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/"))
    settle(page)
    page.locator('input[name="code"]').fill(totp_code(secret))
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r".*/accounts/2fa/trust/"))
    page.get_by_role("button", name=re.compile("Don.t trust", re.I)).click()
    page.wait_for_url(re.compile(r".*/admin/$"))
    assert page.locator("#site-name").inner_text() == "Gatehouse administration"
    settle(page)

    page.goto("/admin/accounts/user/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    # The admin's own scripts run: ticking a row's checkbox makes actions.js mark it selected.
    rows.first.locator("input.action-select").check()
    assert "selected" in (rows.first.get_attribute("class") or "")
    page.locator("#searchbar").fill("member")
    page.locator("#changelist-search input[type=submit]").click()
    page.wait_for_url(re.compile(r".*/admin/accounts/user/\?q=member$"))
    assert page.locator("#result_list tbody tr").count() == 1
    page.locator("#result_list tbody tr a").first.click()
    page.wait_for_url(re.compile(r".*/admin/accounts/user/\d+/change/(\?.*)?$"))
    settle(page)
    assert violations == []


def test_the_api_docs_render_the_operations_with_no_violation(page, violations, transactional_db):
    page.goto("/api/docs/")
    operations = page.locator(".opblock")
    operations.first.wait_for()
    assert operations.count() > 10
    assert page.locator(".opblock-summary-path", has_text="/api/login").count() >= 1
    settle(page)
    assert violations == []


def test_an_injected_inline_script_and_handler_do_not_run(page, violations, transactional_db):
    page.goto("/accounts/login/")
    ran = page.evaluate(
        """() => {
          window.ran = [];
          const script = document.createElement("script");
          script.textContent = "window.ran.push('inline script')";
          document.body.appendChild(script);
          const button = document.createElement("button");
          button.setAttribute("onclick", "window.ran.push('inline handler')");
          document.body.appendChild(button);
          button.click();
          return window.ran;
        }"""
    )
    settle(page)
    assert ran == []
    blocked = sorted(violation.get("directive", "") for violation in violations if "directive" in violation)
    assert blocked == ["script-src-attr", "script-src-elem"]


def test_the_billing_portal_button_reaches_stripe_through_the_form_action(
    page, violations, live_server, fake_stripe_settings, settings, transactional_db
):
    # Chromium applies form-action to the redirect after a POST: the portal form posts to us, we
    # answer 302 to billing.stripe.com (Checkout's redirect is covered by test_billing_flow.py).
    from django.test import Client

    settings.SITE_URL = live_server.url
    sync_plans("pro-monthly")
    user = UserFactory(username="erin", email="erin@example.com")
    client = Client()
    client.force_login(user)
    subscribe_through_fake(client, user, fake_stripe_settings, "pro-monthly")

    visited = []

    def stub_portal(route):
        visited.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Stripe Billing Portal</h1>")

    page.route("https://billing.stripe.com/**", stub_portal)
    page.goto("/accounts/login/")
    sign_in(page, "erin")
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))
    page.goto("/billing/subscription/")
    page.locator("form[action='/billing/portal/'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"https://billing\.stripe\.com/p/session/.*"))
    [session] = fake_stripe_settings.all("billing_portal.session")
    assert visited == [session["url"]]
    assert violations == []
