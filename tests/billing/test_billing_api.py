"""The contract's Billing table over the API, against the loopback fake Stripe."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from billing.models import Plan, Subscription, SubscriptionStatus
from tests.api.authenticators import enable_totp, totp_code
from tests.api.conftest import bearer, login, login_with_second_factor

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _generous_limits():
    with override_settings(API_RATE_LIMIT_DEFAULT="1000/m"):
        yield


@pytest.fixture
def member(user):
    return bearer(APIClient(), login(APIClient())["token"])


@pytest.fixture
def admin_api(staff):
    """Staff writes need a login that passed a second factor (tests/api/test_mfa_login.py)."""
    secret = enable_totp(staff)
    return bearer(APIClient(), login_with_second_factor(APIClient(), "staffer", code=totp_code(secret))["token"])


def test_plans_are_public_and_ordered_by_price():
    response = APIClient().get("/api/billing/plans")
    assert response.status_code == 200
    body = response.json()
    assert [plan["code"] for plan in body] == ["free", "pro-monthly", "business-monthly"]
    assert set(body[1]) == {"id", "name", "code", "tier", "price_cents", "currency", "billing_period", "features"}
    assert body[1]["billing_period"] == "month"


def test_a_plan_is_readable_even_when_inactive():
    plan = Plan.objects.get(code="business-monthly")
    plan.is_active = False
    plan.save()
    assert APIClient().get(f"/api/billing/plans/{plan.pk}").json()["code"] == "business-monthly"
    assert APIClient().get("/api/billing/plans/99999").status_code == 404


def test_staff_create_a_plan_synced_to_stripe(admin_api, fake_stripe_settings):
    payload = {
        "name": "Team",
        "code": "team-yearly",
        "tier": "business",
        "price_cents": 50000,
        "currency": "EUR",
        "billing_period": "year",
        "features": ["Everything"],
    }
    response = admin_api.post("/api/billing/plans", payload, format="json")
    assert response.status_code == 201, response.content
    plan = Plan.objects.get(code="team-yearly")
    assert plan.currency == "eur"
    assert plan.stripe_price_id.startswith("price_")
    price = fake_stripe_settings.get(plan.stripe_price_id)
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (50000, "eur", "year")
    assert admin_api.post("/api/billing/plans", payload, format="json").status_code == 409


def test_a_stripe_outage_saves_no_plan_and_answers_503(admin_api, fake_stripe_settings):
    fake_stripe_settings.down()
    payload = {"name": "Team", "code": "team", "tier": "business", "price_cents": 500, "features": []}
    response = admin_api.post("/api/billing/plans", payload, format="json")
    assert response.status_code == 503
    assert "detail" in response.json()
    assert not Plan.objects.filter(code="team").exists()


def test_members_cannot_manage_plans(member):
    assert member.post("/api/billing/plans", {}, format="json").status_code == 403
    assert APIClient().post("/api/billing/plans", {}, format="json").status_code == 401


def test_bad_plan_input_is_422(admin_api):
    response = admin_api.post("/api/billing/plans", {"code": "x y", "tier": "gold", "price_cents": -1}, format="json")
    assert response.status_code == 422
    assert {"code", "tier", "price_cents", "name"} <= set(response.json()["errors"])


def test_repricing_makes_a_new_price_and_archives_the_old(admin_api, fake_stripe_settings):
    plan = Plan(code="solo", name="Solo", tier="pro", price_cents=900)
    from billing import services

    services.save_plan(plan=plan)
    old_price = plan.stripe_price_id
    response = admin_api.patch(f"/api/billing/plans/{plan.pk}", {"price_cents": 1200, "code": "ignored"}, format="json")
    assert response.status_code == 200
    plan.refresh_from_db()
    assert plan.code == "solo"
    assert plan.stripe_price_id != old_price
    assert fake_stripe_settings.get(old_price)["active"] is False
    assert fake_stripe_settings.get(plan.stripe_price_id)["unit_amount"] == 1200


def test_deleting_a_plan_archives_it(admin_api):
    plan = Plan.objects.get(code="pro-monthly")
    assert admin_api.delete(f"/api/billing/plans/{plan.pk}").status_code == 204
    plan.refresh_from_db()
    assert plan.is_active is False
    again = admin_api.delete(f"/api/billing/plans/{plan.pk}")
    assert again.status_code == 400
    assert again.json() == {"detail": "This plan is already deleted."}


def test_my_subscription_is_404_without_one(member):
    response = member.get("/api/billing/subscriptions/me")
    assert response.status_code == 404
    assert response.json() == {"detail": "No active subscription found for this user."}


def test_subscribe_answers_a_checkout_url(member, fake_stripe_settings):
    from billing import services

    plan = Plan.objects.get(code="pro-monthly")
    services.save_plan(plan=plan, previous=Plan.objects.get(pk=plan.pk))
    response = member.post("/api/billing/subscriptions/subscribe", {"plan_code": "pro-monthly"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["checkout_url"].startswith("http")


def test_subscribe_to_an_unknown_plan_is_404(member, fake_stripe_settings):
    response = member.post("/api/billing/subscriptions/subscribe", {"plan_code": "nope"}, format="json")
    assert response.status_code == 404


def test_subscribe_without_stripe_is_503(member, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = member.post("/api/billing/subscriptions/subscribe", {"plan_code": "pro-monthly"}, format="json")
    assert response.status_code == 503
    assert response.json() == {"detail": "Billing is not configured on this server."}


def test_subscribe_when_already_subscribed_is_409(member, user, fake_stripe_settings):
    Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_x",
        status=SubscriptionStatus.ACTIVE,
    )
    response = member.post("/api/billing/subscriptions/subscribe", {"plan_code": "business-monthly"}, format="json")
    assert response.status_code == 409


def test_cancel_and_resume_without_a_subscription_are_404(member):
    assert member.post("/api/billing/subscriptions/cancel").status_code == 404
    assert member.post("/api/billing/subscriptions/resume").status_code == 404
    assert member.get("/api/billing/subscriptions/preview", {"plan_code": "pro-monthly"}).status_code == 404
    assert (
        member.post("/api/billing/subscriptions/upgrade", {"plan_code": "pro-monthly"}, format="json").status_code
        == 404
    )


def test_payments_me_is_an_empty_list_without_invoices(member):
    response = member.get("/api/billing/payments/me")
    assert response.status_code == 200
    assert response.json() == []


def test_billing_a_routes_refuse_unverified_users(unverified_user):
    api = bearer(APIClient(), login(APIClient(), "newbie")["token"])
    response = api.get("/api/billing/subscriptions/me")
    assert response.status_code == 403
    assert response.json() == {"detail": "Email address is not verified."}


def test_the_gated_endpoint_opens_for_pro_and_above_only(member, user):
    response = member.get("/api/billing/reports")
    assert response.status_code == 403
    assert response.json() == {"detail": "This needs the Pro plan or above."}
    Subscription.objects.create(
        user=user, plan=Plan.objects.get(code="business-monthly"), stripe_subscription_id="sub_b", status="active"
    )
    response = member.get("/api/billing/reports")
    assert response.status_code == 200
    assert response.json()["plan"] == "business-monthly"


def test_payments_me_lists_invoices_newest_first_with_constant_queries(
    member, user, client, fake_stripe_settings, django_assert_num_queries
):
    from tests.billing.fake_billing import subscribe_through_fake, sync_invoice, sync_plans

    sync_plans("pro-monthly")
    client.force_login(user)
    done, subscription = subscribe_through_fake(client, user, fake_stripe_settings)
    sync_invoice(done.invoice["id"])
    # family (+ user, profile, verified address), invoices
    with django_assert_num_queries(2):
        first = member.get("/api/billing/payments/me").json()
    assert len(first) == 1
    payment = first[0]
    assert set(payment) == {
        "id",
        "invoice_id",
        "subscription_id",
        "amount_cents",
        "currency",
        "status",
        "created_at",
        "hosted_invoice_url",
        "invoice_pdf",
    }
    assert payment["invoice_id"] == done.invoice["id"]
    assert payment["amount_cents"] == 1900
    for _ in range(4):
        renewal = fake_stripe_settings.renew(subscription.stripe_subscription_id)
        sync_invoice(renewal.invoice["id"])
    with django_assert_num_queries(2):
        payments = member.get("/api/billing/payments/me").json()
    assert len(payments) == 5
    assert [p["created_at"] for p in payments] == sorted((p["created_at"] for p in payments), reverse=True)


def test_cancel_and_resume_round_trip_over_the_api(member, user, client, fake_stripe_settings):
    from tests.billing.fake_billing import subscribe_through_fake, sync_plans

    sync_plans("pro-monthly")
    client.force_login(user)
    subscribe_through_fake(client, user, fake_stripe_settings)
    canceled = member.post("/api/billing/subscriptions/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["cancel_at_period_end"] is True
    assert member.post("/api/billing/subscriptions/cancel").status_code == 400
    resumed = member.post("/api/billing/subscriptions/resume")
    assert resumed.json()["cancel_at_period_end"] is False
    assert member.post("/api/billing/subscriptions/resume").status_code == 400
    me = member.get("/api/billing/subscriptions/me").json()
    assert set(me) == {
        "id",
        "status",
        "plan",
        "started_at",
        "current_period_end",
        "cancel_at_period_end",
        "canceled_at",
        "provider",
        "provider_subscription_id",
    }
    assert me["provider"] == "stripe"


def test_upgrade_answers_with_the_new_plan_and_me_says_the_same(
    member, user, client, fake_stripe_settings, django_assert_num_queries
):
    from tests.billing.fake_billing import subscribe_through_fake, sync_plans

    sync_plans("pro-monthly", "business-monthly")
    client.force_login(user)
    done, _record = subscribe_through_fake(client, user, fake_stripe_settings)
    business = Plan.objects.get(code="business-monthly")

    response = member.post("/api/billing/subscriptions/upgrade", {"plan_code": "business-monthly"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan"]["code"] == "business-monthly"
    assert (body["status"], body["provider_subscription_id"]) == ("active", done.subscription["id"])
    remote = fake_stripe_settings.get(done.subscription["id"])
    assert remote["items"]["data"][0]["price"]["id"] == business.stripe_price_id
    # family (+ user, profile, verified address), the subscription with access and its plan
    with django_assert_num_queries(2):
        me = member.get("/api/billing/subscriptions/me").json()
    assert me == body


def test_upgrade_whose_payment_is_declined_answers_where_to_pay_and_keeps_the_old_plan(
    member, user, client, fake_stripe_settings
):
    from tests.billing.fake_billing import subscribe_through_fake, sync_plans

    sync_plans("pro-monthly", "business-monthly")
    client.force_login(user)
    done, _record = subscribe_through_fake(client, user, fake_stripe_settings)
    fake_stripe_settings.decline_next_payment()

    response = member.post("/api/billing/subscriptions/upgrade", {"plan_code": "business-monthly"}, format="json")

    assert response.status_code == 200, response.content
    remote = fake_stripe_settings.get(done.subscription["id"])
    invoice = fake_stripe_settings.get(remote["latest_invoice"])
    assert invoice["status"] == "open"
    assert response.json() == {"action_url": invoice["hosted_invoice_url"]}
    assert member.get("/api/billing/subscriptions/me").json()["plan"]["code"] == "pro-monthly"


def test_a_past_due_subscriber_cannot_preview_or_upgrade_until_the_invoice_is_paid(member, user, fake_stripe_settings):
    from billing.models import PAY_BEFORE_CHANGING_PLAN

    Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(code="pro-monthly"),
        stripe_subscription_id="sub_late",
        status=SubscriptionStatus.PAST_DUE,
    )

    preview = member.get("/api/billing/subscriptions/preview", {"plan_code": "business-monthly"})
    upgrade = member.post("/api/billing/subscriptions/upgrade", {"plan_code": "business-monthly"}, format="json")

    for response in (preview, upgrade):
        assert response.status_code == 400, response.content
        assert PAY_BEFORE_CHANGING_PLAN in response.content.decode()
    assert fake_stripe_settings.requests == []  # refused before asking Stripe anything
    assert Subscription.objects.get(stripe_subscription_id="sub_late").plan.code == "pro-monthly"
