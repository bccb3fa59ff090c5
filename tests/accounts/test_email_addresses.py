"""Email addresses page: one row per address, only the actions that apply to it (allauth's view)."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import mark_reauthenticated

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(user) -> Client:
    browser = Client()
    browser.post("/accounts/login/", {"login": "alice", "password": DEFAULT_PASSWORD})
    # Changing addresses asks for the password again first (allauth's reauthentication, issue 16).
    mark_reauthenticated(browser, user)
    return browser


@pytest.fixture
def addresses(user):
    EmailAddress.objects.create(user=user, email="alice.work@example.com", verified=True, primary=False)
    EmailAddress.objects.create(user=user, email="alice.new@example.com", verified=False, primary=False)


def rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<li class="row" data-email="([^"]+)">(.*?)</li>', page, flags=re.S))


def actions(row: str) -> list[str]:
    return re.findall(r'<button type="submit" name="(action_\w+)"', row)


def test_each_row_shows_its_state_and_only_its_own_actions(member, addresses):
    page = member.get("/accounts/email/").content.decode()
    by_address = rows(page)
    assert list(by_address) == ["alice@example.com", "alice.new@example.com", "alice.work@example.com"]
    primary, work, new = (
        by_address["alice@example.com"],
        by_address["alice.work@example.com"],
        by_address["alice.new@example.com"],
    )
    assert "Primary" in primary
    assert "Verified" in primary
    assert actions(primary) == []
    assert "Verified" in work
    assert "Primary" not in work
    assert actions(work) == ["action_primary", "action_remove"]
    assert "Unverified" in new
    assert actions(new) == ["action_send", "action_remove"]
    # Each action is its own form carrying its own address; no radio choice, no shared buttons.
    assert 'type="radio"' not in page
    for address, row in by_address.items():
        assert row.count("<form") == len(actions(row))
        assert row.count(f'<input type="hidden" name="email" value="{address}">') == len(actions(row))
    assert 'aria-label="Remove alice.work@example.com"' in page
    assert 'name="action_add"' in page


def test_an_unverified_primary_address_offers_resend_but_never_remove(unverified_user):
    browser = Client()
    browser.force_login(unverified_user)
    row = rows(browser.get("/accounts/email/").content.decode())["newbie@example.com"]
    assert actions(row) == ["action_send"]
    assert "Unverified" in row
    assert "Primary" in row


def test_make_primary_goes_through_allauth(member, user, addresses):
    response = member.post("/accounts/email/", {"email": "alice.work@example.com", "action_primary": ""})
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user, primary=True).email == "alice.work@example.com"
    user.refresh_from_db()
    assert user.email == "alice.work@example.com"
    by_address = rows(member.get("/accounts/email/").content.decode())
    assert actions(by_address["alice@example.com"]) == ["action_primary", "action_remove"]
    assert actions(by_address["alice.work@example.com"]) == []


def test_remove_and_resend_go_through_allauth(member, user, addresses, committing):
    member.post("/accounts/email/", {"email": "alice.work@example.com", "action_remove": ""})
    assert not EmailAddress.objects.filter(email="alice.work@example.com").exists()
    mail.outbox.clear()
    with committing():
        member.post("/accounts/email/", {"email": "alice.new@example.com", "action_send": ""})
    assert [m.to for m in mail.outbox] == [["alice.new@example.com"]]


def test_a_posted_remove_of_the_primary_address_is_refused_even_when_it_is_the_only_one(member, user):
    # allauth alone removes a last, primary address when usernames sign in too (AccountAdapter).
    response = member.post("/accounts/email/", {"email": "alice@example.com", "action_remove": ""}, follow=True)
    assert EmailAddress.objects.filter(user=user, email="alice@example.com", primary=True).exists()
    assert "You cannot remove your primary email address (alice@example.com)." in response.content.decode()


def test_allauths_rate_limit_still_applies(member, settings, addresses):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "manage_email": "2/m/user"}
    for _ in range(2):
        member.post("/accounts/email/", {"email": "alice.work@example.com", "action_primary": ""})
    assert member.post("/accounts/email/", {"email": "alice@example.com", "action_primary": ""}).status_code == 429
