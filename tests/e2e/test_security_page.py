"""The Security page (issue 16) in Chromium: the account's history, newest first, in pages, at
the desktop and phone sizes of issue 15."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import SecurityEvent
from tests.e2e.shell import DESKTOP, PHONE
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_FOLDER = "security-page"
Kind = SecurityEvent.Kind


def older_history(user):
    """A month of history (25 events, so the page has two pages): what the person did before today."""
    now = timezone.now()
    kinds = [Kind.SIGNED_IN, Kind.SIGN_IN_FAILED, Kind.PASSWORD_CHANGED, Kind.FACTOR_ADDED, Kind.NEW_DEVICE]
    for i in range(25):
        SecurityEvent.objects.create(
            user=user,
            kind=kinds[i % len(kinds)],
            created_at=now - timedelta(days=i + 1, hours=3),
            ip=f"203.0.113.{i + 10}",
            device="Safari on iPhone" if i % 2 else "Firefox on Windows",
            method="Password" if kinds[i % len(kinds)] in (Kind.SIGNED_IN, Kind.SIGN_IN_FAILED) else "",
            detail="Authenticator app" if kinds[i % len(kinds)] == Kind.FACTOR_ADDED else "",
        )


def no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_the_security_page_lists_the_history_in_pages_at_both_sizes(page, screenshot):
    user = UserFactory(username="sasha", email="sasha@example.com")
    older_history(user)
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill("sasha")
    page.locator('input[name="password"]').fill(DEFAULT_PASSWORD)
    page.locator('main form[method="post"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r".*/accounts/profile/$"))

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Security").click()
    page.wait_for_url(re.compile(r".*/accounts/security/$"))
    assert page.get_by_role("heading", name="Security", level=1).is_visible()
    assert page.get_by_role("link", name="Security", exact=True).get_attribute("aria-current") == "page"
    rows = page.locator(".security-events > li")
    assert rows.count() == 20
    # The sign-in just made, first, in words: this browser is new to the account (it used others).
    newest, signed_in = rows.nth(0), rows.nth(1)
    assert newest.locator("strong").inner_text() == "Signed in from a new device"
    assert newest.locator(".badge").inner_text() == "new device"
    assert signed_in.locator("strong").inner_text() == "Signed in"
    assert re.fullmatch(r"now|a second ago|\d+\xa0seconds ago", signed_in.locator("time").inner_text())
    assert re.search(
        r"ago · Password · Chrome on Linux · 127\.0\.0\.1$|now · Password · Chrome", signed_in.inner_text()
    )
    assert rows.nth(2).locator("time").inner_text() == "1\xa0day, 3\xa0hours ago"
    assert page.locator(".security-event-sign_in_failed .badge").first.inner_text() == "refused"
    assert page.get_by_text("Page 1 of 2").is_visible()
    assert no_sideways_scroll(page)
    screenshot("security-desktop")

    page.set_viewport_size(PHONE)
    assert no_sideways_scroll(page)
    assert page.get_by_role("heading", name="Security", level=1).is_visible()
    screenshot("security-phone")

    page.get_by_role("link", name="Older").click()
    page.wait_for_url(re.compile(r".*/accounts/security/\?page=2$"))
    assert page.locator(".security-events > li").count() == 7
    assert page.get_by_text("Page 2 of 2").is_visible()
    assert page.get_by_role("link", name="Older").count() == 0
    assert no_sideways_scroll(page)
    screenshot("security-phone-page-2")

    page.set_viewport_size(DESKTOP)
    page.get_by_role("link", name="Newer").click()
    page.wait_for_url(re.compile(r".*/accounts/security/\?page=1$"))
    assert page.locator(".security-events > li").count() == 20


def test_a_new_account_sees_an_empty_history_explained(page, live_server, screenshot):
    from tests.e2e.shell import sign_in

    sign_in(page.context, live_server, UserFactory(username="nova", email="nova@example.com"))
    page.goto("/accounts/security/")
    assert page.get_by_text("Nothing yet. Sign-ins and changes to your account will be listed here.").is_visible()
    assert page.locator(".pager").count() == 0
    page.set_viewport_size(PHONE)
    assert no_sideways_scroll(page)
    screenshot("security-empty-phone")
