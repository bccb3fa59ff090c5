"""Cancel at period end, and resume: Stripe first, then our access record, each kept in step."""

import pytest
import stripe

from mail.models import OutboundEmail
from tests.billing.fake_billing import deliver, messages_of, row

pytestmark = pytest.mark.django_db

CANCEL_URL = "/billing/subscription/cancel/"
RESUME_URL = "/billing/subscription/resume/"
WILL_END = "Your subscription will end at the end of the current period."
ALREADY_ENDING = "Your subscription is already set to end at the end of the period."
WILL_CONTINUE = "Your subscription will continue."
NOT_ENDING = "Your subscription is not set to end."


def remote_flag(fake, subscription_id) -> bool:
    return fake.get(subscription_id)["cancel_at_period_end"]


def test_canceling_schedules_the_end_in_stripe_and_here(alice, fake, subscribed):
    remote, record = subscribed

    response = alice.post(CANCEL_URL, follow=True)

    assert response.redirect_chain == [("/billing/subscription/", 302)]
    assert messages_of(response) == [WILL_END]
    (modify,) = fake.calls("POST", f"/v1/subscriptions/{remote['id']}")
    assert modify.params == {"cancel_at_period_end": True}
    after = fake.get(remote["id"])
    assert after["cancel_at_period_end"] is True
    assert after["status"] == "active"  # access until the period ends
    assert after["cancel_at"] == remote["items"]["data"][0]["current_period_end"]
    record.refresh_from_db()
    assert record.cancel_at_period_end is True
    assert record.status == "active"
    html = response.content.decode()
    assert "Access ends" in html
    assert "Keep my subscription" in html
    assert "Cancel at period end" not in html


def test_canceling_twice_says_it_is_already_set_to_end(alice, fake, subscribed):
    remote, record = subscribed
    alice.post(CANCEL_URL, follow=True)
    fake.requests.clear()

    response = alice.post(CANCEL_URL, follow=True)

    assert messages_of(response) == [ALREADY_ENDING]
    assert fake.requests == []
    assert remote_flag(fake, remote["id"]) is True
    record.refresh_from_db()
    assert record.cancel_at_period_end is True


def test_resuming_undoes_the_scheduled_end_in_stripe_and_here(alice, fake, subscribed):
    remote, record = subscribed
    alice.post(CANCEL_URL, follow=True)
    fake.requests.clear()

    response = alice.post(RESUME_URL, follow=True)

    assert messages_of(response) == [WILL_CONTINUE]
    (modify,) = fake.calls("POST", f"/v1/subscriptions/{remote['id']}")
    assert modify.params == {"cancel_at_period_end": False}
    after = fake.get(remote["id"])
    assert (after["cancel_at_period_end"], after["cancel_at"], after["canceled_at"]) == (False, None, None)
    record.refresh_from_db()
    assert (record.cancel_at_period_end, record.canceled_at) == (False, None)
    html = response.content.decode()
    assert "Renews on" in html
    assert "Cancel at period end" in html


def test_resuming_what_is_not_ending_is_refused(alice, fake, subscribed):
    response = alice.post(RESUME_URL, follow=True)

    assert messages_of(response) == [NOT_ENDING]
    assert fake.requests == []


@pytest.mark.parametrize("url", [CANCEL_URL, RESUME_URL])
def test_without_a_subscription_there_is_nothing_to_cancel_or_resume(alice, fake, url):
    fake.requests.clear()

    response = alice.post(url, follow=True)

    assert messages_of(response) == ["No active subscription found for this user."]
    assert fake.requests == []


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda fake: fake.fail_next(500), id="stripe-500"),
        pytest.param(lambda fake: fake.down(), id="stripe-down"),
    ],
)
def test_canceling_while_stripe_fails_is_a_message_and_changes_nothing(alice, fake, subscribed, outage):
    remote, record = subscribed
    before = row(record)
    outage(fake)

    response = alice.post(CANCEL_URL, follow=True)

    assert messages_of(response) == ["Stripe is having trouble. Please try again in a few minutes."]
    assert row(record) == before
    fake.up()
    assert remote_flag(fake, remote["id"]) is False


def test_resuming_while_stripe_fails_is_a_message_and_changes_nothing(alice, fake, subscribed):
    remote, record = subscribed
    alice.post(CANCEL_URL, follow=True)
    before = row(record)
    fake.fail_next(500)

    response = alice.post(RESUME_URL, follow=True)

    assert messages_of(response) == ["Stripe is having trouble. Please try again in a few minutes."]
    assert row(record) == before
    assert before["cancel_at_period_end"] is True
    assert remote_flag(fake, remote["id"]) is True


def test_a_timeout_is_a_message_and_changes_nothing(alice, fake, subscribed, monkeypatch):
    remote, record = subscribed
    before = row(record)
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(timeout=0.2))
    fake.timeout_next(seconds=0.5)

    response = alice.post(CANCEL_URL, follow=True)

    assert messages_of(response) == ["Stripe could not be reached. Please try again in a few minutes."]
    assert row(record) == before
    assert remote_flag(fake, remote["id"]) is False


def test_after_a_lost_answer_canceling_again_puts_both_sides_in_step(alice, fake, subscribed, monkeypatch):
    remote, record = subscribed
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(timeout=0.2))
    fake.timeout_next(seconds=0.5, process=True)  # Stripe did it; the answer was lost
    alice.post(CANCEL_URL, follow=True)
    assert remote_flag(fake, remote["id"]) is True
    record.refresh_from_db()
    assert record.cancel_at_period_end is False  # until the webhook or a retry says otherwise

    response = alice.post(CANCEL_URL, follow=True)

    assert messages_of(response) == [WILL_END]
    record.refresh_from_db()
    assert record.cancel_at_period_end is True
    assert remote_flag(fake, remote["id"]) is True


@pytest.mark.parametrize("url", [CANCEL_URL, RESUME_URL])
def test_cancel_and_resume_are_posts_for_signed_in_users(client, user, fake, url):
    assert client.post(url)["Location"].startswith("/accounts/login/")
    client.force_login(user)
    assert client.get(url)["Location"] == "/billing/subscription/"  # the page with the buttons


# --- the mail that follows (issue 14, item 10) -----------------------------------------------------


def lifecycle_mails() -> list[tuple[str, str]]:
    return list(OutboundEmail.objects.order_by("pk").values_list("subject", "body"))


def test_resuming_mails_that_the_plan_continues_once_also_when_stripes_webhooks_follow(
    alice, fake, subscribed, endpoint
):
    remote, record = subscribed
    news_before = len(fake.events)
    alice.post(CANCEL_URL)
    alice.post(RESUME_URL)

    # Stripe's own news of both changes, signed and delivered to the real endpoint, after the fact.
    assert {r.status_code for r in deliver(alice, endpoint, *fake.events[news_before:])} == {200}

    subjects = [subject for subject, _body in lifecycle_mails()]
    assert subjects[-1] == "[Gatehouse] Your Pro subscription will continue"
    assert sum("will end on" in s for s in subjects) == 1
    assert sum("will continue" in s for s in subjects) == 1
    record.refresh_from_db()
    _subject, body = lifecycle_mails()[-1]
    assert "no longer set to end" in body
    assert f"renews on {record.current_period_end:%-d %B %Y} for $19" in body
    assert OutboundEmail.objects.latest("pk").to == ["alice@example.com"]


def test_a_resume_made_in_stripes_billing_portal_mails_once_from_its_webhook(alice, fake, subscribed, endpoint):
    remote, _record = subscribed
    alice.post(CANCEL_URL)
    fake.call("POST", f"/v1/subscriptions/{remote['id']}", cancel_at_period_end=False)  # the customer, at Stripe
    resumed = fake.events_of_type("customer.subscription.updated")[-1]

    assert [r.status_code for r in deliver(alice, endpoint, resumed, resumed)] == [200, 200]

    subjects = [subject for subject, _body in lifecycle_mails()]
    assert subjects[-1] == "[Gatehouse] Your Pro subscription will continue"
    assert sum("will continue" in s for s in subjects) == 1


def test_cancelling_again_after_a_resume_mails_each_change(alice, fake, subscribed):
    for url in (CANCEL_URL, RESUME_URL, CANCEL_URL, RESUME_URL):
        assert messages_of(alice.post(url, follow=True)) in ([WILL_END], [WILL_CONTINUE])
        fake.advance_time(3600)  # the customer changes their mind an hour later

    subjects = [subject for subject, _body in lifecycle_mails()]
    assert sum("will end on" in s for s in subjects) == 2
    assert sum("will continue" in s for s in subjects) == 2
