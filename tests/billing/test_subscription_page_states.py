"""The subscription page says the one state that is true, for states reached the way they are in
production: Checkout on the loopback fake Stripe, its signed webhooks posted to the real endpoint."""

import pytest

from tests.billing.test_webhooks_lifecycle import DAY, Story, long_date

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(alice, fake, endpoint, committing):
    return Story(alice, fake, endpoint, committing)


def card_text(client) -> str:
    response = client.get("/billing/subscription/")
    assert response.status_code == 200
    return response.content.decode().split("<h1>", 1)[1]


# --- after the end ---------------------------------------------------------------------------------------


def test_after_a_subscription_ends_early_the_page_shows_the_ended_date_not_a_future_one(story, fake):
    done = story.checkout()
    period_end = done.subscription["items"]["data"][0]["current_period_end"]
    fake.advance_time(3 * DAY)
    ended = fake.end(story.subscription_id, reason="cancellation_requested")  # e.g. canceled in Stripe's dashboard
    story.deliver(ended.events)

    html = card_text(story.client)

    assert f"Ended on</dt><dd>{long_date(ended.subscription['ended_at'])}</dd>" in html
    assert long_date(period_end) not in html  # the period's end, still in the future, is not when access ends
    assert "Access ends" not in html
    assert "Renews on" not in html
    assert "you are on the free plan" in html
    assert 'href="/billing/pricing/">See the plans</a> to subscribe again' in html
    assert "Cancel at period end" not in html
    assert "Payment method and invoices" not in html


def test_a_cancellation_that_took_effect_shows_when_it_ended(story, fake):
    story.checkout()
    story.portal("/billing/subscription/cancel/", {})
    assert "Access ends" in card_text(story.client)  # scheduled: access until the period's end
    fake.advance_time(31 * DAY)
    ended = fake.end(story.subscription_id)
    story.deliver(ended.events)

    html = card_text(story.client)

    assert f"Ended on</dt><dd>{long_date(ended.subscription['ended_at'])}</dd>" in html
    assert "Access ends" not in html
