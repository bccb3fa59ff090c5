"""Deactivating an account cancels its Stripe subscription first (accounts.deactivation + billing.deactivation).

Portal, API and admin all go through accounts.services.deactivate_account: billing's hook cancels
every subscription Stripe could still charge (Idempotency-Key ``deactivate:<id>:cancel``) and
records Stripe's answer before the account changes. When Stripe cannot be reached nothing changes.
"""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import User
from billing.models import Subscription, SubscriptionStatus
from tests.accounts.mail import html_body, last_mail_to
from tests.accounts.test_deactivate import reauthenticate
from tests.api.conftest import bearer, login
from tests.billing.fake_billing import messages_of, start_checkout
from tests.billing.test_webhooks_lifecycle import DAY, Story
from tests.factories import DEFAULT_PASSWORD
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db

NOTE = (
    "Your Pro plan is canceled at once: you will not be charged again,"
    " and the rest of the current period is not refunded."
)
DOWN = "Your account was not deactivated: Stripe could not be reached. Please try again in a few minutes."


@pytest.fixture
def confirming(alice):
    """alice, signed in and freshly reauthenticated, on the deactivation page."""
    reauthenticate(alice)
    return alice


def cancels(fake, stripe_subscription_id: str) -> list:
    return fake.calls("DELETE", f"/v1/subscriptions/{stripe_subscription_id}")


def test_the_page_says_what_happens_to_the_plan_before_confirming(subscribed, confirming, fake):
    response = confirming.get("/accounts/deactivate/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "What happens to your plan when you deactivate" in page
    assert NOTE in page
    assert fake.calls("DELETE") == []  # showing the page cancels nothing


def test_the_page_tells_someone_on_the_free_plan_that_nothing_is_charged_or_ended(confirming, fake):
    page = confirming.get("/accounts/deactivate/").content.decode()

    assert "What happens to your plan when you deactivate" in page
    assert "You are on the free plan: there is no subscription to end, and you will not be charged." in page
    assert "canceled" not in page
    assert fake.calls("DELETE") == []


def test_the_page_tells_a_past_due_subscriber_that_the_unpaid_invoice_is_no_longer_collected(
    alice, fake, endpoint, committing
):
    story = Story(alice, fake, endpoint, committing)
    story.checkout()
    fake.advance_time(31 * DAY)
    story.deliver(fake.fail_payment(story.subscription_id).events)
    assert story.record.status == SubscriptionStatus.PAST_DUE
    reauthenticate(alice)

    page = alice.get("/accounts/deactivate/").content.decode()

    assert (
        "Your Pro plan is canceled at once: you will not be charged again,"
        " and Stripe stops trying to collect the unpaid invoice of $19."
    ) in page
    assert NOTE not in page


def test_the_page_tells_a_subscriber_already_leaving_that_the_plan_ends_now_not_on_its_date(
    alice, fake, endpoint, committing
):
    story = Story(alice, fake, endpoint, committing)
    story.checkout()
    story.portal("/billing/subscription/cancel/", {})
    record = story.record
    assert record.cancel_at_period_end
    reauthenticate(alice)

    page = alice.get("/accounts/deactivate/").content.decode()

    assert (
        f"Your Pro plan, already set to end on {record.current_period_end:%-d %B %Y}, ends at once:"
        " the days left until then are not refunded."
    ) in page


def test_deactivating_in_the_portal_cancels_the_subscription_in_stripe_first(
    subscribed, confirming, fake, user, committing
):
    stripe_subscription, record = subscribed

    with committing():
        response = confirming.post("/accounts/deactivate/", {"confirm": "on"})

    assert response.status_code == 302
    (cancel,) = cancels(fake, stripe_subscription["id"])
    assert cancel.headers["Idempotency-Key"] == f"deactivate:{stripe_subscription['id']}:cancel"
    assert fake.get(stripe_subscription["id"])["status"] == "canceled"
    record.refresh_from_db()
    assert record.status == SubscriptionStatus.CANCELED
    assert record.grants_access is False
    assert User.objects.get(pk=user.pk).is_active is False


def test_the_mail_says_the_plan_was_canceled(subscribed, confirming, committing):
    with committing():
        confirming.post("/accounts/deactivate/", {"confirm": "on"})

    (message,) = mail.outbox  # one mail: not also "your subscription ended, subscribe again"
    assert "deactivated" in message.subject.lower()
    assert NOTE in message.body
    assert NOTE in html_body(message)
    assert "has been deactivated" in message.body


def test_the_mail_of_someone_on_the_free_plan_says_nothing_is_charged_and_nothing_canceled(confirming, committing):
    with committing():
        confirming.post("/accounts/deactivate/", {"confirm": "on"})

    body = last_mail_to("alice@example.com").body
    assert "You are on the free plan: there is no subscription to end, and you will not be charged." in body
    assert "canceled" not in body


def test_with_stripe_down_the_portal_refuses_and_changes_nothing(subscribed, confirming, fake, user, committing):
    stripe_subscription, record = subscribed
    fake.down(close_connections=True)

    with committing():
        response = confirming.post("/accounts/deactivate/", {"confirm": "on"})

    assert response.status_code == 200
    assert DOWN in response.content.decode()
    assert User.objects.get(pk=user.pk).is_active is True
    record.refresh_from_db()
    assert record.status == SubscriptionStatus.ACTIVE
    fake.up()
    assert fake.get(stripe_subscription["id"])["status"] == "active"
    assert mail.outbox == []
    assert confirming.get("/accounts/profile/").status_code == 200  # still signed in


def test_a_cancel_whose_answer_was_lost_is_replayed_by_the_next_attempt(subscribed, confirming, fake, user):
    stripe_subscription, record = subscribed
    # Stripe cancels, but the answer never arrives: the first attempt is refused, the second replays it.
    fake.timeout_next(path_prefix="/v1/subscriptions/", method="DELETE", process=True)

    first = confirming.post("/accounts/deactivate/", {"confirm": "on"})
    assert DOWN in first.content.decode()
    assert User.objects.get(pk=user.pk).is_active is True

    second = confirming.post("/accounts/deactivate/", {"confirm": "on"})

    assert second.status_code == 302
    assert User.objects.get(pk=user.pk).is_active is False
    tries = cancels(fake, stripe_subscription["id"])
    assert len(tries) == 2
    assert {t.headers["Idempotency-Key"] for t in tries} == {f"deactivate:{stripe_subscription['id']}:cancel"}
    assert len(fake.events_of_type("customer.subscription.deleted")) == 1  # canceled once
    record.refresh_from_db()
    assert record.status == SubscriptionStatus.CANCELED


def test_a_subscription_stripe_had_already_ended_does_not_block_deactivation(subscribed, confirming, fake, user):
    stripe_subscription, record = subscribed
    fake.end(stripe_subscription["id"])  # its webhook was lost: our record still says active

    response = confirming.post("/accounts/deactivate/", {"confirm": "on"})

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).is_active is False
    record.refresh_from_db()
    assert record.status == SubscriptionStatus.CANCELED


def test_an_open_checkout_is_expired_so_it_cannot_start_billing_afterwards(confirming, fake, user):
    session_id = start_checkout(confirming)  # a Checkout tab left open

    response = confirming.post("/accounts/deactivate/", {"confirm": "on"})

    assert response.status_code == 302
    assert fake.get(session_id)["status"] == "expired"
    (expire,) = fake.calls("POST", f"/v1/checkout/sessions/{session_id}/expire")
    assert expire.headers["Idempotency-Key"] == f"deactivate:{session_id}:expire"
    assert User.objects.get(pk=user.pk).is_active is False


def test_a_subscription_whose_webhook_has_not_arrived_is_canceled_too(confirming, fake, user):
    paid = fake.complete_checkout(start_checkout(confirming))  # paid in Stripe; no record here yet
    assert not Subscription.objects.exists()

    response = confirming.post("/accounts/deactivate/", {"confirm": "on"})

    assert response.status_code == 302
    assert fake.get(paid.subscription["id"])["status"] == "canceled"
    record = Subscription.objects.get(stripe_subscription_id=paid.subscription["id"])
    assert (record.user_id, record.status) == (user.pk, SubscriptionStatus.CANCELED)


def test_deactivating_through_the_api_cancels_the_subscription(subscribed, fake, user, committing):
    stripe_subscription, _record = subscribed
    api = bearer(APIClient(), login(APIClient())["token"])

    with committing():
        response = api.post("/api/deactivate", {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 202
    assert len(cancels(fake, stripe_subscription["id"])) == 1
    assert fake.get(stripe_subscription["id"])["status"] == "canceled"
    assert User.objects.get(pk=user.pk).is_active is False
    assert NOTE in last_mail_to("alice@example.com").body


def test_with_stripe_down_the_api_answers_503_and_changes_nothing(subscribed, fake, user):
    api = bearer(APIClient(), login(APIClient())["token"])
    fake.down(close_connections=True)

    response = api.post("/api/deactivate", {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 503
    assert response.json() == {"detail": DOWN}
    assert User.objects.get(pk=user.pk).is_active is True
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
    fake.up()
    assert api.get("/api/me").status_code == 200  # the login still works


def test_the_admin_action_cancels_the_subscription(subscribed, client, staff, fake, user):
    stripe_subscription, _record = subscribed
    sign_in_with_second_factor(client, staff)

    response = client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]}, follow=True
    )

    assert "Deactivated 1 user(s)." in messages_of(response)
    assert fake.get(stripe_subscription["id"])["status"] == "canceled"
    assert User.objects.get(pk=user.pk).is_active is False


def test_with_stripe_down_the_admin_action_says_so_and_changes_nothing(subscribed, client, staff, fake, user):
    sign_in_with_second_factor(client, staff)
    fake.down(close_connections=True)

    response = client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]}, follow=True
    )

    assert (
        "alice@example.com was not deactivated: Stripe could not be reached. Please try again in a few minutes."
        in messages_of(response)
    )
    assert "Deactivated 0 user(s)." in messages_of(response)
    assert User.objects.get(pk=user.pk).is_active is True
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE
