"""The loopback fake Stripe (tests/fake_stripe) answers the real stripe SDK as Stripe would."""

import json
import threading
import time
from pathlib import Path

import pytest
import requests
import stripe

from tests.fake_stripe import FakeStripe, post_event, sign_payload, stripe_sdk_pointed_at
from tests.fake_stripe.objects import FIXTURES_PATH
from tests.fake_stripe.params import parse_form

# Redundant once tests/conftest.py lists the plugin; harmless then (pytest loads a plugin once).

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "stripe-openapi" / "fixtures3.json"
URLS = {"success_url": "https://gatehouse.test/billing/success", "cancel_url": "https://gatehouse.test/billing"}


@pytest.fixture
def plan(fake_stripe):
    product = stripe.Product.create(name="Pro")
    price = stripe.Price.create(product=product.id, unit_amount=2000, currency="usd", recurring={"interval": "month"})
    return product, price


@pytest.fixture
def customer(fake_stripe):
    return stripe.Customer.create(email="alice@example.com", metadata={"user_id": "1"})


@pytest.fixture
def subscribed(fake_stripe, plan, customer):
    """alice has paid for Pro through Checkout."""
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=customer.id,
        line_items=[{"price": plan[1].id, "quantity": 1}],
        subscription_data={"metadata": {"plan": "pro"}},
        **URLS,
    )
    return fake_stripe.complete_checkout(session.id)


def error_of(excinfo) -> dict:
    return excinfo.value.json_body["error"]


# --- happy paths through the SDK ------------------------------------------------------------------------------


def test_it_creates_retrieves_modifies_and_searches_customers(fake_stripe, customer):
    assert customer.object == "customer"
    assert customer.id.startswith("cus_")
    assert customer.discount is None
    assert customer.livemode is False
    assert abs(customer.created - time.time()) < 5

    stripe.Customer.modify(customer.id, name="Alice", metadata={"user_id": "", "tier": "pro"})
    again = stripe.Customer.retrieve(customer.id)
    assert (again.name, again.metadata.to_dict()) == ("Alice", {"tier": "pro"})

    assert [c.id for c in stripe.Customer.list(email="alice@example.com")] == [customer.id]
    assert [c.id for c in stripe.Customer.search(query="email:'alice@example.com'")] == [customer.id]
    assert stripe.Customer.search(query="email:'bob@example.com'").data == []


def test_it_manages_products_prices_and_features(fake_stripe, plan):
    product, price = plan
    assert (product.object, price.object, price.type) == ("product", "price", "recurring")
    assert price.recurring.interval == "month"
    assert str(price.unit_amount_decimal) == "2000"  # the SDK hands decimal strings over as Decimal

    fake_stripe.add_feature(product.id, name="Reports", lookup_key="reports")
    features = stripe.Product.list_features(product.id)
    assert [f.entitlement_feature.lookup_key for f in features] == ["reports"]
    assert features.data[0].object == "product_feature"

    assert stripe.Price.modify(price.id, active=False).active is False
    assert stripe.Product.modify(product.id, active=False).active is False
    assert stripe.Price.list(product=product.id, active=True).data == []


def test_it_creates_a_checkout_session_in_stripes_shape(fake_stripe, plan, customer):
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=customer.id,
        client_reference_id="1",
        line_items=[{"price": plan[1].id, "quantity": 1}],
        metadata={"user_id": "1", "plan": "pro"},
        subscription_data={"metadata": {"user_id": "1"}},
        allow_promotion_codes=True,
        **URLS,
    )
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.url.startswith("https://checkout.stripe.com/")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "subscription")
    assert (session.amount_total, session.currency, session.customer) == (2000, "usd", customer.id)
    assert session.metadata.to_dict() == {"user_id": "1", "plan": "pro"}
    assert stripe.checkout.Session.retrieve(session.id).client_reference_id == "1"
    items = stripe.checkout.Session.list_line_items(session.id)
    assert [(i.price.id, i.quantity) for i in items] == [(plan[1].id, 1)]


def test_completing_checkout_makes_a_current_api_subscription_and_paid_invoice(fake_stripe, subscribed, plan):
    session = stripe.checkout.Session.retrieve(subscribed.session["id"])
    assert (session.status, session.payment_status) == ("complete", "paid")
    sub = stripe.Subscription.retrieve(session.subscription)
    assert (sub.status, sub.customer, sub.metadata.to_dict()) == ("active", session.customer, {"plan": "pro"})
    item = sub["items"].data[0]
    assert item.price.id == plan[1].id
    assert item.current_period_end > item.current_period_start  # the period lives on the items now
    assert stripe.SubscriptionItem.retrieve(item.id).subscription == sub.id

    invoice = stripe.Invoice.retrieve(sub.latest_invoice)
    assert (invoice.status, invoice.billing_reason, invoice.amount_paid) == ("paid", "subscription_create", 2000)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.lines.data[0].parent.subscription_item_details.subscription_item == item.id
    assert invoice.hosted_invoice_url.startswith("https://invoice.stripe.com/")
    assert invoice.invoice_pdf.endswith("/pdf?s=ap")
    assert [e["type"] for e in subscribed.events][-1] == "checkout.session.completed"


def test_completing_checkout_sends_the_browser_to_the_success_url_with_the_session_id_filled_in(fake_stripe, plan):
    # Stripe fills in {CHECKOUT_SESSION_ID} when it redirects; the session keeps the URL as it was given.
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": plan[1].id, "quantity": 1}],
        success_url="https://gatehouse.test/billing/checkout/success/?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=URLS["cancel_url"],
    )

    done = fake_stripe.complete_checkout(session.id)

    assert done.redirect_url == f"https://gatehouse.test/billing/checkout/success/?session_id={session.id}"
    assert stripe.checkout.Session.retrieve(session.id).success_url == (
        "https://gatehouse.test/billing/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
    )


def test_a_success_url_without_the_template_variable_is_followed_as_given(fake_stripe, subscribed):
    assert subscribed.redirect_url == URLS["success_url"]


def test_it_changes_plans_and_schedules_cancellation(fake_stripe, subscribed):
    product_id = subscribed.subscription["items"]["data"][0]["price"]["product"]
    team = stripe.Price.create(product=product_id, unit_amount=5000, currency="usd", recurring={"interval": "month"})
    item_id = subscribed.subscription["items"]["data"][0]["id"]

    sub = stripe.Subscription.modify(
        subscribed.subscription["id"],
        items=[{"id": item_id, "price": team.id}],
        proration_behavior="always_invoice",
        proration_date=fake_stripe.now(),
        payment_behavior="error_if_incomplete",
    )
    assert sub["items"].data[0].id == item_id
    assert sub["items"].data[0].price.id == team.id
    upgrade = stripe.Invoice.retrieve(sub.latest_invoice)
    assert upgrade.billing_reason == "subscription_update"
    assert all(line.parent.subscription_item_details.proration for line in upgrade.lines.data)

    sub = stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert sub.cancel_at_period_end is True
    assert sub.cancel_at == sub["items"].data[0].current_period_end
    updated = fake_stripe.events_of_type("customer.subscription.updated")[-1]
    assert updated["data"]["previous_attributes"]["cancel_at_period_end"] is False


def test_a_declined_plan_change_follows_its_payment_behavior(fake_stripe, subscribed):
    sub_id = subscribed.subscription["id"]
    item = subscribed.subscription["items"]["data"][0]
    team = stripe.Price.create(
        product=item["price"]["product"], unit_amount=5000, currency="usd", recurring={"interval": "month"}
    )
    change = {"items": [{"id": item["id"], "price": team.id}], "proration_behavior": "always_invoice"}

    fake_stripe.decline_next_payment()
    with pytest.raises(stripe.CardError):
        stripe.Subscription.modify(sub_id, payment_behavior="error_if_incomplete", **change)
    assert stripe.Subscription.retrieve(sub_id)["items"].data[0].price.id == item["price"]["id"]

    fake_stripe.decline_next_payment()
    sub = stripe.Subscription.modify(sub_id, payment_behavior="pending_if_incomplete", **change)
    assert sub["items"].data[0].price.id == item["price"]["id"]  # unchanged until the invoice is paid
    assert sub.pending_update.subscription_items[0].price.id == team.id
    assert stripe.Invoice.retrieve(sub.latest_invoice).status == "open"
    paid = fake_stripe.pay_invoice(sub.latest_invoice)
    assert paid.subscription["items"]["data"][0]["price"]["id"] == team.id
    assert paid.subscription["pending_update"] is None

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.Subscription.modify(sub_id, payment_behavior="pending_if_incomplete", metadata={"a": "b"}, **change)
    assert excinfo.value.param == "metadata"


def test_it_previews_prorations(fake_stripe, subscribed):
    sub = subscribed.subscription
    item = sub["items"]["data"][0]
    team = stripe.Price.create(
        product=item["price"]["product"], unit_amount=5000, currency="usd", recurring={"interval": "month"}
    )
    halfway = (item["current_period_start"] + item["current_period_end"]) // 2

    preview = stripe.Invoice.create_preview(
        customer=sub["customer"],
        subscription=sub["id"],
        subscription_details={
            "items": [{"id": item["id"], "price": team.id}],
            "proration_date": halfway,
            "proration_behavior": "create_prorations",
        },
    )
    prorations = [line.amount for line in preview.lines.data if line.parent.subscription_item_details.proration]
    assert prorations == [-1000, 2500]
    assert preview.total == -1000 + 2500 + 5000  # and the next period at the new price
    assert preview.id.startswith("upcoming_in_")
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Invoice.retrieve(preview.id)
    assert stripe.Subscription.retrieve(sub["id"])["items"].data[0].price.id == item["price"]["id"]  # unchanged


def test_it_cancels_now_and_lists_by_customer(fake_stripe, subscribed):
    sub_id, customer_id = subscribed.subscription["id"], subscribed.customer["id"]
    assert [s.id for s in stripe.Subscription.list(customer=customer_id)] == [sub_id]

    canceled = stripe.Subscription.cancel(sub_id, prorate=True, invoice_now=True)
    assert (canceled.status, canceled.cancellation_details.reason) == ("canceled", "cancellation_requested")
    assert stripe.Subscription.list(customer=customer_id).data == []  # Stripe hides canceled ones by default
    assert [s.id for s in stripe.Subscription.list(customer=customer_id, status="canceled")] == [sub_id]
    assert fake_stripe.events_of_type("customer.subscription.deleted")[0]["data"]["object"]["id"] == sub_id


def test_it_pages_invoices_by_customer_and_subscription(fake_stripe, subscribed):
    sub_id = subscribed.subscription["id"]
    fake_stripe.renew(sub_id)
    fake_stripe.renew(sub_id)
    newest_first = [i.id for i in stripe.Invoice.list(subscription=sub_id)]
    assert len(newest_first) == 3

    page = stripe.Invoice.list(customer=subscribed.customer["id"], limit=2)
    assert ([i.id for i in page], page.has_more) == (newest_first[:2], True)
    rest = stripe.Invoice.list(customer=subscribed.customer["id"], limit=2, starting_after=newest_first[1])
    assert ([i.id for i in rest], rest.has_more) == (newest_first[2:], False)
    assert [i.id for i in page.auto_paging_iter()] == newest_first


def test_lifecycle_helpers_move_subscriptions_like_stripe(fake_stripe, subscribed):
    sub_id = subscribed.subscription["id"]
    first_end = subscribed.subscription["items"]["data"][0]["current_period_end"]

    renewed = fake_stripe.renew(sub_id)
    assert renewed.subscription["items"]["data"][0]["current_period_start"] == first_end
    assert (renewed.invoice["billing_reason"], renewed.invoice["status"]) == ("subscription_cycle", "paid")

    failed = fake_stripe.fail_payment(sub_id)
    assert failed.subscription["status"] == "past_due"
    assert (failed.invoice["status"], failed.invoice["attempt_count"]) == ("open", 1)
    assert failed.invoice["next_payment_attempt"] is not None
    assert failed.event("customer.subscription.updated")["data"]["previous_attributes"]["status"] == "active"

    assert fake_stripe.fail_payment(sub_id).invoice["attempt_count"] == 2  # the retry fails too
    recovered = fake_stripe.pay_invoice(failed.invoice["id"])
    assert (recovered.invoice["status"], recovered.subscription["status"]) == ("paid", "active")

    ended = fake_stripe.end(sub_id)
    assert ended.subscription["status"] == "canceled"
    assert ended.subscription["ended_at"] is not None
    assert [e["type"] for e in ended.events] == ["customer.subscription.deleted"]


def test_it_refunds_by_payment_intent_or_charge(fake_stripe, subscribed):
    refund = stripe.Refund.create(payment_intent=subscribed.payment_intent["id"], amount=500)
    assert (refund.object, refund.amount, refund.status) == ("refund", 500, "succeeded")
    assert refund.charge == subscribed.charge["id"]
    assert stripe.Refund.create(charge=subscribed.charge["id"]).amount == 1500
    assert stripe.Charge.retrieve(subscribed.charge["id"]).refunded is True

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.Refund.create(charge=subscribed.charge["id"])
    assert excinfo.value.code == "charge_already_refunded"


def test_it_opens_portal_sessions_and_webhook_endpoints(fake_stripe, customer):
    portal = stripe.billing_portal.Session.create(customer=customer.id, return_url="https://gatehouse.test/billing")
    assert (portal.object, portal.customer) == ("billing_portal.session", customer.id)
    assert portal.id.startswith("bps_")
    assert portal.url.startswith("https://billing.stripe.com/")

    endpoint = stripe.WebhookEndpoint.create(
        url="https://gatehouse.test/stripe/webhook/",
        enabled_events=["customer.subscription.updated", "invoice.paid"],
        api_version="2025-08-27.basil",
    )
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret == fake_stripe.webhook_secret(endpoint.id)
    assert "secret" not in stripe.WebhookEndpoint.retrieve(endpoint.id)  # only the creating answer has it


def test_it_answers_what_dj_stripe_fetches_while_syncing(fake_stripe, subscribed):
    # dj-stripe 2.11 asks with these expand lists (its models' expand_fields).
    account = stripe.Account.retrieve()
    assert account.object == "account"
    assert stripe.Customer.retrieve(subscribed.customer["id"], expand=["default_source", "sources"]).sources.data == []
    price_id = subscribed.subscription["items"]["data"][0]["price"]["id"]
    price = stripe.Price.retrieve(price_id, expand=["currency_options", "product", "tiers"])
    assert price.product.object == "product"
    invoice = stripe.Invoice.retrieve(subscribed.invoice["id"], expand=["discounts", "lines.data.discounts"])
    assert invoice.object == "invoice"
    session = stripe.checkout.Session.retrieve(
        subscribed.session["id"], expand=["line_items", "total_details.breakdown", "line_items.data.discounts"]
    )
    assert session.line_items.data[0].object == "item"
    assert stripe.PaymentIntent.retrieve(subscribed.payment_intent["id"]).status == "succeeded"
    assert stripe.Charge.retrieve(subscribed.charge["id"]).paid is True
    pm_id = subscribed.subscription["default_payment_method"]
    assert stripe.PaymentMethod.retrieve(pm_id).customer == subscribed.customer["id"]
    sub = stripe.Subscription.retrieve(subscribed.subscription["id"], expand=["latest_invoice.payments"])
    assert sub.latest_invoice.payments.data[0].payment.payment_intent == subscribed.payment_intent["id"]


def test_events_are_built_stored_and_retrievable(fake_stripe, subscribed):
    sub = subscribed.subscription
    event = fake_stripe.event("customer.subscription.updated", sub, previous_attributes={"status": "incomplete"})
    assert event["id"].startswith("evt_")
    assert (event["object"], event["api_version"]) == ("event", fake_stripe.api_version)
    fetched = stripe.Event.retrieve(event["id"])
    assert fetched.data.object.id == sub["id"]
    assert fetched.data.previous_attributes.status == "incomplete"
    assert stripe.Event.retrieve(subscribed.event("invoice.paid")["id"]).type == "invoice.paid"


# --- strictness -----------------------------------------------------------------------------------------------


def test_unknown_parameters_are_refused_at_any_depth(fake_stripe, plan):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.Customer.create(email="a@example.com", plan="pro")
    assert (excinfo.value.param, excinfo.value.code) == ("plan", "parameter_unknown")
    assert excinfo.value.http_status == 400
    assert error_of(excinfo)["message"] == "Received unknown parameter: plan"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.checkout.Session.create(mode="subscription", line_items=[{"price": plan[1].id, "qty": 1}], **URLS)
    assert excinfo.value.param == "line_items[0][qty]"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.Price.modify(plan[1].id, unit_amount=3000)  # prices are immutable
    assert (excinfo.value.param, excinfo.value.code) == ("unit_amount", "parameter_unknown")


def test_missing_required_parameters_are_refused(fake_stripe, plan):
    product_id, line_items = plan[0].id, [{"price": plan[1].id, "quantity": 1}]
    cases = [
        (stripe.checkout.Session.create, {"mode": "subscription", "line_items": line_items}, "success_url"),
        (stripe.Price.create, {"product": product_id, "unit_amount": 100}, "currency"),
        (stripe.Price.create, {"currency": "usd", "unit_amount": 100}, "product"),
        (stripe.Price.create, {"currency": "usd", "product": product_id}, "unit_amount"),
        (
            stripe.Price.create,
            {"currency": "usd", "product": product_id, "unit_amount": 1, "recurring": {"interval_count": 1}},
            "recurring[interval]",
        ),
        (stripe.WebhookEndpoint.create, {"url": "https://gatehouse.test/wh"}, "enabled_events"),
    ]
    for create, params, missing in cases:
        with pytest.raises(stripe.InvalidRequestError) as excinfo:
            create(**params)
        assert (excinfo.value.param, excinfo.value.code) == (missing, "parameter_missing")


def test_missing_objects_are_404_and_bad_values_400(fake_stripe, plan):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.Subscription.modify("sub_missing", cancel_at_period_end=True)
    assert (excinfo.value.http_status, excinfo.value.code, excinfo.value.param) == (404, "resource_missing", "id")

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.checkout.Session.create(
            mode="subscription", customer="cus_missing", line_items=[{"price": plan[1].id, "quantity": 1}], **URLS
        )
    assert (excinfo.value.http_status, excinfo.value.param) == (400, "customer")

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.Subscription.modify("sub_x", proration_behavior="sometimes")
    assert excinfo.value.param == "proration_behavior"

    stripe.Price.modify(plan[1].id, active=False)
    with pytest.raises(stripe.InvalidRequestError, match="inactive"):
        stripe.checkout.Session.create(mode="subscription", line_items=[{"price": plan[1].id, "quantity": 1}], **URLS)


def test_unknown_routes_and_bad_keys_get_stripes_errors(fake_stripe):
    response = requests.get(
        f"{fake_stripe.api_base}/v1/nothing", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL (GET: /v1/nothing)" in response.json()["error"]["message"]

    with pytest.raises(stripe.AuthenticationError):
        stripe.Customer.list(api_key="sk_live_not_in_tests")
    assert requests.get(f"{fake_stripe.api_base}/v1/customers", timeout=5).status_code == 401


def test_bracket_form_encoding_is_parsed_into_nested_values(fake_stripe):
    assert parse_form(
        "metadata[user_id]=1&line_items[0][price]=p&enabled_events[]=a&enabled_events[]=b&expand[]=x"
    ) == {
        "metadata": {"user_id": "1"},
        "line_items": {"0": {"price": "p"}},
        "enabled_events": ["a", "b"],
        "expand": ["x"],
    }
    response = requests.post(
        f"{fake_stripe.api_base}/v1/webhook_endpoints",
        data="url=https://gatehouse.test/wh&enabled_events[]=invoice.paid&enabled_events[]=invoice.payment_failed",
        headers={"Authorization": "Bearer sk_test_x", "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.json()["enabled_events"] == ["invoice.paid", "invoice.payment_failed"]


# --- failure injection, idempotency, request log ------------------------------------------------------------------


def test_injected_failures_raise_the_sdks_errors(fake_stripe, customer):
    fake_stripe.fail_next(402)
    with pytest.raises(stripe.CardError) as excinfo:
        stripe.Customer.retrieve(customer.id)
    assert (excinfo.value.code, error_of(excinfo)["decline_code"]) == ("card_declined", "generic_decline")

    fake_stripe.fail_next(500)
    with pytest.raises(stripe.APIError):
        stripe.Customer.retrieve(customer.id)

    fake_stripe.fail_next(503, times=2, path_prefix="/v1/subscriptions")
    assert stripe.Customer.retrieve(customer.id).id == customer.id  # other paths are untouched
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            stripe.Subscription.list()
    assert stripe.Subscription.list().data == []

    fake_stripe.fail_next(429)
    with pytest.raises(stripe.RateLimitError):
        stripe.Customer.list()


def test_slow_answers_and_outages_raise_connection_errors(fake_stripe):
    with stripe_sdk_pointed_at(fake_stripe, timeout=0.2):
        fake_stripe.timeout_next(seconds=0.6)
        started = time.monotonic()
        with pytest.raises(stripe.APIConnectionError):
            stripe.Customer.list()
        assert time.monotonic() - started < 0.6

    fake_stripe.down(close_connections=True)
    with pytest.raises(stripe.APIConnectionError):
        stripe.Customer.list()
    fake_stripe.down()
    with pytest.raises(stripe.APIError):
        stripe.Customer.list()
    fake_stripe.up()
    assert stripe.Customer.list().data == []


def test_an_idempotency_key_replays_the_first_answer(fake_stripe):
    first = stripe.Customer.create(email="a@example.com", idempotency_key="signup-1")
    again = stripe.Customer.create(email="a@example.com", idempotency_key="signup-1")
    assert again.id == first.id
    assert len(fake_stripe.all("customer")) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(email="b@example.com", idempotency_key="signup-1")


def test_a_lost_answer_is_safe_to_retry_with_the_same_key(fake_stripe):
    with stripe_sdk_pointed_at(fake_stripe, timeout=0.2):
        fake_stripe.timeout_next(seconds=0.5, process=True)  # Stripe created it; the answer never came
        with pytest.raises(stripe.APIConnectionError):
            stripe.Customer.create(email="a@example.com", idempotency_key="k1")
    retried = stripe.Customer.create(email="a@example.com", idempotency_key="k1")
    assert [c["id"] for c in fake_stripe.all("customer")] == [retried.id]


def test_a_held_answer_is_what_stripe_read_on_arrival_and_comes_when_released(fake_stripe, subscribed):
    sub_id = subscribed.subscription["id"]
    held = fake_stripe.hold_next(method="GET", path_prefix="/v1/subscriptions/")
    answers = []
    reader = threading.Thread(target=lambda: answers.append(stripe.Subscription.retrieve(sub_id)))
    reader.start()
    assert held.wait_until_arrived()

    stripe.Subscription.modify(sub_id, metadata={"plan": "business"})  # Stripe changes meanwhile
    reader.join(timeout=0.2)
    assert answers == [], "a held answer is not sent before it is released"
    held.release()
    reader.join(timeout=5)

    (late,) = answers
    assert late["metadata"].to_dict() == {"plan": "pro"}  # read before the change, delivered after it
    assert stripe.Subscription.retrieve(sub_id)["metadata"].to_dict() == {"plan": "business"}


def test_requests_are_logged_with_typed_params_and_headers(fake_stripe, plan):
    stripe.checkout.Session.create(
        mode="subscription", line_items=[{"price": plan[1].id, "quantity": 2}], allow_promotion_codes=True, **URLS
    )
    method, path, params, headers = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["line_items"] == [{"price": plan[1].id, "quantity": 2}]
    assert params["allow_promotion_codes"] is True
    assert headers["Stripe-Version"] == stripe.api_version
    assert headers["Idempotency-Key"]
    assert [r.path for r in fake_stripe.calls("POST", "/v1/p*")] == ["/v1/products", "/v1/prices"]


def test_the_fixture_points_the_sdk_at_the_fake_and_resets_it(fake_stripe):
    assert stripe.api_base == fake_stripe.api_base
    assert stripe.api_key.startswith("sk_test_")
    assert stripe.max_network_retries == 0
    assert fake_stripe.requests == []
    assert fake_stripe.all("customer") == []


# --- webhooks -------------------------------------------------------------------------------------------------------


def test_signed_payloads_verify_with_the_sdk_and_tampering_fails():
    secret = "whsec_test_secret"
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}})
    header = sign_payload(payload, secret)
    assert stripe.Webhook.construct_event(payload, header, secret).id == "evt_1"
    assert sign_payload(payload, secret, 1_700_000_000) == stripe.WebhookSignature.generate_signature_header(
        payload, secret, 1_700_000_000
    )

    for bad_payload, bad_header in [
        (payload.replace("invoice.paid", "invoice.voided"), header),
        (payload, sign_payload(payload, "whsec_other")),
        (payload, sign_payload(payload, secret, int(time.time()) - 301)),  # outside the 300 s tolerance
    ]:
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(bad_payload, bad_header, secret)


def test_post_event_sends_a_signed_json_body(fake_stripe, subscribed):
    sent = {}

    class Client:
        def post(self, url, data, content_type, **extra):
            sent.update(url=url, data=data, content_type=content_type, **extra)
            return "response"

    event = subscribed.event("checkout.session.completed")
    assert post_event(Client(), "/stripe/webhook/abc/", event, "whsec_x") == "response"
    assert sent["content_type"] == "application/json"
    verified = stripe.Webhook.construct_event(sent["data"], sent["HTTP_STRIPE_SIGNATURE"], "whsec_x")
    assert verified.data.object.id == subscribed.session["id"]


def test_the_vendored_fixtures_are_stripes_published_ones():
    vendored = json.loads(FIXTURES_PATH.read_text())["resources"]
    if not SHARED_FIXTURES.exists():
        pytest.skip(f"{SHARED_FIXTURES} is not on this machine")
    published = json.loads(SHARED_FIXTURES.read_text())["resources"]
    assert vendored == {name: published[name] for name in vendored}


def test_a_fake_can_run_outside_the_fixture():
    with FakeStripe() as fake, stripe_sdk_pointed_at(fake):
        assert stripe.Customer.create().object == "customer"
    with pytest.raises(RuntimeError):
        _ = fake.api_base
