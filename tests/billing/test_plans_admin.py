"""Staff edit plans in the Django admin; every edit goes to Stripe (the loopback fake) first.

A Stripe failure is a form error and nothing is saved here; a price change makes a new Stripe Price
and archives the old one (prices are immutable); plans are archived, never deleted.
"""

import json

import pytest
import stripe
from djstripe.models import Price, Product

from billing.models import Plan
from tests.billing.fake_billing import messages_of, sync_plans
from tests.mfa_helpers import sign_in_with_second_factor

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/billing/plan/add/"
LIST_URL = "/admin/billing/plan/"
NOT_SAVED = "The plan was not saved."

TEAM = {
    "code": "team-yearly",
    "name": "Team",
    "tier": "business",
    "price_cents": "49900",
    "currency": "usd",
    "interval": "year",
    "features": '["Unlimited projects", "Priority support"]',
    "is_active": "on",
}


@pytest.fixture
def fake(fake_stripe_settings):
    return fake_stripe_settings


@pytest.fixture
def admin_client(client, staff):
    sign_in_with_second_factor(client, staff)
    return client


def change_url(plan) -> str:
    return f"/admin/billing/plan/{plan.pk}/change/"


def change_form(plan, **changes) -> dict:
    """The change form as the admin renders it for `plan` (the code is read-only), with `changes`."""
    data = {
        "name": plan.name,
        "tier": plan.tier,
        "price_cents": str(plan.price_cents),
        "currency": plan.currency,
        "interval": plan.interval,
        "features": json.dumps(plan.features),
        "is_active": "on" if plan.is_active else "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def form_errors(response) -> list[str]:
    return list(response.context["adminform"].form.non_field_errors())


def plan_row(plan) -> dict:
    return Plan.objects.filter(pk=plan.pk).values().get()


@pytest.fixture
def team(admin_client, fake):
    """Team, created through the admin and so synced to the fake; the request log starts empty."""
    response = admin_client.post(ADD_URL, TEAM, follow=True)
    assert response.redirect_chain == [(LIST_URL, 302)], form_errors(response)
    fake.requests.clear()
    return Plan.objects.get(code="team-yearly")


# --- create ------------------------------------------------------------------------------------------


def test_creating_a_plan_creates_its_stripe_product_and_price(admin_client, fake):
    response = admin_client.post(ADD_URL, TEAM)

    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    plan = Plan.objects.get(code="team-yearly")

    (product_call,) = fake.calls("POST", "/v1/products")
    assert product_call.params["name"] == "Team"
    assert product_call.params["active"] is True
    assert product_call.params["metadata"] == {"plan_code": "team-yearly", "tier": "business"}
    assert product_call.params["marketing_features"] == [{"name": "Unlimited projects"}, {"name": "Priority support"}]
    assert product_call.headers["Idempotency-Key"] == "plan:team-yearly:product"

    (price_call,) = fake.calls("POST", "/v1/prices")
    assert price_call.params["unit_amount"] == 49900
    assert price_call.params["currency"] == "usd"
    assert price_call.params["recurring"] == {"interval": "year"}
    assert price_call.params["metadata"] == {"plan_code": "team-yearly"}
    assert price_call.headers["Idempotency-Key"] == "plan:team-yearly:price:49900:usd:year:after:none"

    # Our row points at what Stripe made, and dj-stripe's mirror holds the same objects.
    (product,) = fake.all("product")
    (price,) = fake.all("price")
    assert (plan.stripe_product_id, plan.stripe_price_id) == (product["id"], price["id"])
    assert price["product"] == product["id"]
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (49900, "usd", "year")
    assert Product.objects.get(id=product["id"]).name == "Team"
    assert Price.objects.get(id=price["id"]).product_id == product["id"]
    assert (plan.name, plan.tier, plan.price_cents, plan.interval, plan.is_active) == (
        "Team",
        "business",
        49900,
        "year",
        True,
    )
    assert plan.features == ["Unlimited projects", "Priority support"]
    assert "Billing is not configured" not in " ".join(messages_of(response))


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda fake: fake.fail_next(500), id="stripe-500"),
        pytest.param(lambda fake: fake.down(), id="stripe-down"),
        pytest.param(lambda fake: fake.fail_next(400, error_type="invalid_request_error"), id="stripe-400"),
        pytest.param(lambda fake: fake.fail_next(500, path_prefix="/v1/prices"), id="price-fails-after-product"),
    ],
)
def test_creating_a_plan_while_stripe_fails_shows_why_and_saves_nothing(admin_client, fake, outage):
    outage(fake)

    response = admin_client.post(ADD_URL, TEAM)

    assert response.status_code == 200  # the form again, with the reason
    (error,) = form_errors(response)
    assert error.startswith("Stripe: ")
    assert error.endswith(NOT_SAVED)
    assert not Plan.objects.filter(code="team-yearly").exists()
    assert fake.all("price") == []
    assert Price.objects.count() == 0
    # What dj-stripe mirrors is what Stripe holds: a product created before the price failed, or nothing.
    assert set(Product.objects.values_list("id", flat=True)) == {p["id"] for p in fake.all("product")}


def test_saving_again_after_a_failure_reuses_the_product_stripe_already_made(admin_client, fake):
    fake.fail_next(500, path_prefix="/v1/prices")
    assert admin_client.post(ADD_URL, TEAM).status_code == 200

    response = admin_client.post(ADD_URL, TEAM)

    assert response.status_code == 302
    (product,) = fake.all("product")  # the retry's idempotency key replayed the first product
    (price,) = fake.all("price")
    plan = Plan.objects.get(code="team-yearly")
    assert (plan.stripe_product_id, plan.stripe_price_id) == (product["id"], price["id"])


def test_a_stripe_timeout_on_create_is_a_form_error(admin_client, fake, monkeypatch):
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(timeout=0.2))
    fake.timeout_next(seconds=0.5)

    response = admin_client.post(ADD_URL, TEAM)

    assert response.status_code == 200
    assert form_errors(response) == [
        "Stripe: Stripe could not be reached. Please try again in a few minutes. The plan was not saved."
    ]
    assert not Plan.objects.filter(code="team-yearly").exists()


def test_an_invalid_plan_is_refused_before_anything_goes_to_stripe(admin_client, fake):
    taken = admin_client.post(ADD_URL, {**TEAM, "code": "pro-monthly"})
    bad_currency = admin_client.post(ADD_URL, {**TEAM, "currency": "US"})
    bad_features = admin_client.post(ADD_URL, {**TEAM, "features": '{"not": "a list"}'})

    assert taken.context["adminform"].form.errors["code"] == ["Plan with this Code already exists."]
    assert "currency" in bad_currency.context["adminform"].form.errors
    assert bad_features.context["adminform"].form.errors["features"] == ["Give a list of text lines."]
    assert fake.requests == []
    assert not Plan.objects.filter(code="team-yearly").exists()


# --- change -----------------------------------------------------------------------------------------


def test_a_new_price_makes_a_new_stripe_price_and_archives_the_old_one(admin_client, fake, team):
    old_price_id = team.stripe_price_id

    response = admin_client.post(change_url(team), change_form(team, price_cents="59900"))

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.price_cents == 59900
    assert team.stripe_price_id != old_price_id
    new_price = fake.get(team.stripe_price_id)
    assert (new_price["unit_amount"], new_price["product"], new_price["active"]) == (
        59900,
        team.stripe_product_id,
        True,
    )
    assert fake.get(old_price_id)["active"] is False
    (archive,) = fake.calls("POST", f"/v1/prices/{old_price_id}")
    assert archive.params == {"active": False}
    (create,) = fake.calls("POST", "/v1/prices")
    assert create.headers["Idempotency-Key"] == f"plan:team-yearly:price:59900:usd:year:after:{old_price_id}"
    assert len(fake.all("product")) == 1
    assert Price.objects.filter(id=team.stripe_price_id, product_id=team.stripe_product_id).exists()


def test_when_archiving_the_old_price_fails_the_plan_still_sells_the_new_one(admin_client, fake, team):
    old_price_id = team.stripe_price_id
    fake.fail_next(500, path_prefix=f"/v1/prices/{old_price_id}")

    response = admin_client.post(change_url(team), change_form(team, price_cents="59900"))

    assert response.status_code == 302  # harmless: reconciliation archives it later
    team.refresh_from_db()
    assert team.price_cents == 59900
    assert fake.get(team.stripe_price_id)["unit_amount"] == 59900
    assert fake.get(old_price_id)["active"] is True


def test_editing_the_free_plan_makes_no_stripe_call(admin_client, fake):
    free = Plan.objects.get(code="free")

    response = admin_client.post(change_url(free), change_form(free, features='["Basic access", "Community"]'))

    assert response.status_code == 302
    free.refresh_from_db()
    assert free.features == ["Basic access", "Community"]
    assert (free.stripe_product_id, free.stripe_price_id) == (None, None)
    assert fake.requests == []


def test_a_new_interval_makes_a_new_stripe_price_too(admin_client, fake, team):
    old_price_id = team.stripe_price_id

    response = admin_client.post(change_url(team), change_form(team, interval="month", price_cents="4990"))

    assert response.status_code == 302
    team.refresh_from_db()
    new_price = fake.get(team.stripe_price_id)
    assert new_price["id"] != old_price_id
    assert (new_price["unit_amount"], new_price["recurring"]["interval"]) == (4990, "month")
    assert fake.get(old_price_id)["active"] is False
    assert [p["active"] for p in fake.all("price")] == [True, False]  # newest first


def test_renaming_updates_the_product_and_keeps_the_price(admin_client, fake, team):
    price_id = team.stripe_price_id

    response = admin_client.post(
        change_url(team), change_form(team, name="Team Plus", features='["Unlimited projects"]')
    )

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.name == "Team Plus"
    assert team.stripe_price_id == price_id
    assert fake.calls("POST", "/v1/prices") == []
    assert fake.calls("POST", f"/v1/prices/{price_id}") == []
    (update,) = fake.calls("POST", f"/v1/products/{team.stripe_product_id}")
    assert update.params["name"] == "Team Plus"
    assert update.params["marketing_features"] == [{"name": "Unlimited projects"}]
    product = fake.get(team.stripe_product_id)
    assert (product["name"], product["active"]) == ("Team Plus", True)
    assert Product.objects.get(id=team.stripe_product_id).name == "Team Plus"  # the mirror follows
    assert fake.get(price_id)["active"] is True


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda fake: fake.fail_next(500), id="stripe-500"),
        pytest.param(lambda fake: fake.down(), id="stripe-down"),
        pytest.param(lambda fake: fake.fail_next(400, error_type="invalid_request_error"), id="stripe-400"),
        pytest.param(lambda fake: fake.fail_next(500, path_prefix="/v1/prices"), id="price-fails-after-product"),
    ],
)
def test_repricing_while_stripe_fails_shows_why_and_changes_nothing(admin_client, fake, team, outage):
    before = plan_row(team)
    outage(fake)

    response = admin_client.post(change_url(team), change_form(team, price_cents="59900"))

    assert response.status_code == 200
    (error,) = form_errors(response)
    assert error.startswith("Stripe: ")
    assert error.endswith(NOT_SAVED)
    assert plan_row(team) == before
    fake.up()
    assert [(p["id"], p["active"]) for p in fake.all("price")] == [(team.stripe_price_id, True)]


def test_repricing_back_to_an_earlier_price_sells_an_active_price(admin_client, fake, team):
    """Prices are immutable, but going back to an old amount must not bring back the archived Price."""
    first_price_id = team.stripe_price_id
    assert admin_client.post(change_url(team), change_form(team, price_cents="59900")).status_code == 302
    team.refresh_from_db()

    response = admin_client.post(change_url(team), change_form(team, price_cents="49900"))

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.price_cents == 49900
    current = fake.get(team.stripe_price_id)
    assert (current["unit_amount"], current["active"]) == (49900, True)
    assert team.stripe_price_id != first_price_id


# --- archive, no delete ------------------------------------------------------------------------------


def test_the_archive_action_archives_the_product_and_keeps_the_plan(admin_client, fake, team):
    response = admin_client.post(
        LIST_URL, {"action": "archive", "_selected_action": [str(team.pk)], "index": "0"}, follow=True
    )

    assert response.status_code == 200
    assert "Archived 1 plan(s)." in messages_of(response)
    team.refresh_from_db()
    assert team.is_active is False
    assert team.stripe_product_id  # both still there for existing subscribers
    assert team.stripe_price_id
    (update,) = fake.calls("POST", f"/v1/products/{team.stripe_product_id}")
    assert update.params["active"] is False
    assert fake.get(team.stripe_product_id)["active"] is False
    assert Plan.objects.filter(code="team-yearly").exists()
    assert not Plan.objects.active().filter(code="team-yearly").exists()


def test_archiving_while_stripe_is_down_keeps_the_plan_on_sale(admin_client, fake, team):
    fake.down()

    response = admin_client.post(
        LIST_URL, {"action": "archive", "_selected_action": [str(team.pk)], "index": "0"}, follow=True
    )

    (message,) = messages_of(response)
    assert message.startswith("Team: ")
    assert message.endswith("It was not archived.")
    team.refresh_from_db()
    assert team.is_active is True
    fake.up()
    assert fake.get(team.stripe_product_id)["active"] is True


def test_plans_cannot_be_deleted_from_the_admin(admin_client, team):
    assert admin_client.get(f"/admin/billing/plan/{team.pk}/delete/").status_code == 403
    changelist = admin_client.get(LIST_URL)
    actions = [value for value, _label in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "archive" in actions
    assert admin_client.post(f"/admin/billing/plan/{team.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Plan.objects.filter(pk=team.pk).exists()


def test_the_code_is_fixed_once_the_plan_exists(admin_client, fake, team):
    response = admin_client.post(change_url(team), change_form(team, code="renamed"))

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.code == "team-yearly"


def test_syncing_the_demo_plans_skips_the_free_one(fake):
    free, pro = sync_plans("free", "pro-monthly")

    assert (free.stripe_product_id, free.stripe_price_id) == (None, None)
    assert pro.stripe_price_id == fake.all("price")[0]["id"]
    assert [p["metadata"]["plan_code"] for p in fake.all("product")] == ["pro-monthly"]


def test_dj_stripes_mirror_follows_archived_prices_and_products(admin_client, fake, team):
    old_price_id = team.stripe_price_id
    assert admin_client.post(change_url(team), change_form(team, price_cents="59900")).status_code == 302
    admin_client.post(LIST_URL, {"action": "archive", "_selected_action": [str(team.pk)], "index": "0"})

    assert fake.get(old_price_id)["active"] is False
    assert fake.get(team.stripe_product_id)["active"] is False
    assert Price.objects.get(id=old_price_id).active is False
    assert Product.objects.get(id=team.stripe_product_id).active is False
