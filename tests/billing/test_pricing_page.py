"""The pricing page (issue 15, item 2): prices as people read them, one action per card (disabled with
the reason when it cannot be used), the current plan marked, and the plan a gated page asked for
highlighted with one line on why. None of this calls Stripe."""

import re

import pytest
from django.utils import translation

from billing.models import Plan
from billing.money import format_price
from tests.billing.test_billing_pages import subscribe, with_plans

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_sale(fake_stripe_settings):
    with_plans(3)  # Pro and Business look synced to Stripe
    return fake_stripe_settings


def cards(html: str) -> dict[str, str]:
    """Each plan card's HTML by plan name."""
    found = re.findall(r'<article class="card plan[^"]*".*?<h2 id="plan-[^"]+">([^<]+)</h2>.*?</article>', html, re.S)
    articles = re.findall(r'(<article class="card plan.*?</article>)', html, re.S)
    return dict(zip(found, articles, strict=True))


@pytest.mark.parametrize(
    ("cents", "currency", "shown"),
    [
        (1900, "usd", "$19"),
        (1950, "usd", "$19.50"),
        (0, "usd", "$0"),
        (1234500, "usd", "$12,345"),
        (999, "eur", "€9.99"),
        (500, "jpy", "¥500"),
        (1900, "chf", "19\u00a0CHF"),
        # A credit (a proration line, a refund): the sign before the symbol, as Stripe writes it.
        (-1900, "usd", "-$19"),
        (-950, "usd", "-$9.50"),
        (-1900, "chf", "-19\u00a0CHF"),
        ("x", "usd", ""),
    ],
)
def test_it_formats_a_price_tag_as_people_read_it(cents, currency, shown):
    with translation.override("en-us"):
        assert format_price(cents, currency) == shown


def test_it_follows_the_active_languages_separators():
    with translation.override("de"):
        assert format_price(1234550, "usd") == "$12.345,50"


def test_a_visitor_sees_prices_as_people_read_them_and_one_action_per_card(client, on_sale):
    html = client.get("/billing/pricing/").content.decode()
    by_name = cards(html)
    assert list(by_name) == ["Free", "Pro", "Business"]
    assert '<p class="price">$0 <span class="per">forever</span></p>' in by_name["Free"]
    assert '<p class="price">$19 <span class="per">/ month</span></p>' in by_name["Pro"]
    assert '<p class="price">$99 <span class="per">/ month</span></p>' in by_name["Business"]
    assert "Free / Free" not in html
    assert "USD" not in html
    assert ">Create a free account</a>" in by_name["Free"]
    for name in ("Pro", "Business"):
        assert by_name[name].count('class="button') == 1
        assert ">Create an account to subscribe</a>" in by_name[name]


def test_a_free_member_has_the_free_plan_marked_and_a_subscribe_button_on_paid_cards(client, user, on_sale):
    client.force_login(user)
    by_name = cards(client.get("/billing/pricing/").content.decode())
    assert 'class="card plan plan-current"' in by_name["Free"]
    assert "Your current plan" in by_name["Free"]
    assert "Your current plan" not in by_name["Pro"]
    assert '<button type="submit" class="button-block">Subscribe to Pro</button>' in by_name["Pro"]
    assert '<input type="hidden" name="plan" value="business-monthly">' in by_name["Business"]


def test_a_subscriber_has_their_plan_marked_and_can_switch_or_return_to_free(client, user, on_sale):
    subscribe(user, "pro-monthly")
    client.force_login(user)
    by_name = cards(client.get("/billing/pricing/").content.decode())
    assert "plan-current" in by_name["Pro"]
    assert "plan-current" not in by_name["Free"]
    assert 'href="/billing/subscription/">Manage your subscription</a>' in by_name["Pro"]
    assert 'href="/billing/subscription/change/?plan=business-monthly">Switch to Business</a>' in by_name["Business"]
    assert 'href="/billing/subscription/">Cancel Pro to move to Free</a>' in by_name["Free"]


def test_a_subscriber_whose_plan_ends_is_told_when_free_starts(client, user, on_sale):
    record = subscribe(user, "pro-monthly")
    record.cancel_at_period_end = True
    record.save()
    client.force_login(user)
    free = cards(client.get("/billing/pricing/").content.decode())["Free"]
    assert "disabled" in free
    assert f"You move to Free on {record.current_period_end:%-d %B %Y}." in free


def test_without_billing_the_paid_cards_show_a_disabled_button_with_the_reason(client, user, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(user)
    pro = cards(client.get("/billing/pricing/").content.decode())["Pro"]
    assert (
        '<button type="button" class="button-block" disabled aria-describedby="plan-pro-monthly-reason">'
        "Subscribe to Pro</button>" in pro
    )
    assert '<p class="help plan-reason" id="plan-pro-monthly-reason">Paid plans are not available yet.</p>' in pro


def test_a_plan_not_synced_to_stripe_says_so_in_words_for_its_audience(client, user, staff, on_sale):
    Plan.objects.filter(code="business-monthly").update(stripe_price_id=None)
    client.force_login(user)
    assert ">Not on sale yet.</p>" in cards(client.get("/billing/pricing/").content.decode())["Business"]
    client.force_login(staff)
    business = cards(client.get("/billing/pricing/").content.decode())["Business"]
    assert "staff have not synced this plan to Stripe" in business


def test_the_gate_highlights_the_plan_that_opens_the_page_with_one_line_on_why(
    client, user, on_sale, django_assert_num_queries
):
    client.force_login(user)
    response = client.get("/billing/reports/")
    assert response["Location"] == "/billing/pricing/?needs=pro"
    # user, the subscription with access (none: nav and cards), the active plans (session: cache)
    with django_assert_num_queries(3):
        html = client.get(response["Location"]).content.decode()
    by_name = cards(html)
    assert "plan-highlighted" in by_name["Pro"]
    assert "The page you tried to open is part of the Pro plan." in by_name["Pro"]
    assert "plan-highlighted" not in by_name["Business"] + by_name["Free"]
    assert "This page is part of the Pro plan and above." in html  # the gate's message too


def test_an_unknown_tier_in_the_address_highlights_nothing(client, on_sale):
    assert "plan-highlighted" not in client.get("/billing/pricing/?needs=platinum").content.decode()
