"""Stripe objects built from Stripe's published example objects, in the current API's shapes.

``stripe_fixtures.json`` is an unchanged subset of ``openapi/fixtures3.json`` from github.com/stripe/openapi.
Its values are synthetic (timestamps 1234567890, every nullable object filled in), so each builder
starts from a deep copy of the example and overrides what a real object of that kind would hold.
"""

from __future__ import annotations

import calendar
import copy
import datetime
import json
import secrets
import string
from functools import cache
from pathlib import Path

FIXTURES_PATH = Path(__file__).with_name("stripe_fixtures.json")
_ALPHABET = string.ascii_letters + string.digits

PREFIXES = {
    "account": "acct_",
    "billing_portal.session": "bps_",
    "charge": "ch_",
    "checkout.session": "cs_test_",
    "customer": "cus_",
    "entitlements.feature": "feat_test_",
    "event": "evt_",
    "invoice": "in_",
    "invoice_payment": "inpay_",
    "item": "li_",
    "line_item": "il_",
    "payment_intent": "pi_",
    "payment_method": "pm_",
    "price": "price_",
    "product": "prod_",
    "product_feature": "prodft_",
    "refund": "re_",
    "subscription": "sub_",
    "subscription_item": "si_",
    "webhook_endpoint": "we_",
}
# Longest prefix first, so "cs_test_" wins over a hypothetical "cs_".
_BY_PREFIX = sorted(((p, kind) for kind, p in PREFIXES.items()), key=lambda pair: -len(pair[0]))


@cache
def _fixtures() -> dict:
    return json.loads(FIXTURES_PATH.read_text())["resources"]


def fixture(name: str) -> dict:
    """A fresh deep copy of Stripe's example object ``name``."""
    return copy.deepcopy(_fixtures()[name])


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(kind: str) -> str:
    prefix = PREFIXES[kind]
    if kind in ("customer", "product"):
        return prefix + random_token(14)
    if kind == "checkout.session":
        return prefix + "a1" + random_token(56)
    return prefix + "1" + random_token(23)


def kind_of(object_id: str) -> str | None:
    """The object type an id names, from its prefix."""
    for prefix, kind in _BY_PREFIX:
        if object_id.startswith(prefix):
            return kind
    return None


def list_object(data: list, url: str, *, has_more: bool = False) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    """``timestamp`` moved on by ``count`` billing intervals, months and years by the calendar."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    if interval == "day":
        moment += datetime.timedelta(days=count)
    elif interval == "week":
        moment += datetime.timedelta(weeks=count)
    else:
        months = count * (12 if interval == "year" else 1)
        year, month = divmod(moment.month - 1 + months, 12)
        year += moment.year
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        moment = moment.replace(year=year, month=month + 1, day=day)
    return int(moment.timestamp())


def format_amount(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency, currency.upper() + " ")
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount) / 100:,.2f}"


def price_label(price: dict, product_name: str) -> str:
    recurring = price.get("recurring")
    per = f" / {recurring['interval']}" if recurring else ""
    return f"{product_name} (at {format_amount(price['unit_amount'] or 0, price['currency'])}{per})"


# --- builders -----------------------------------------------------------------------------------------


def account(account_id: str, now: int) -> dict:
    obj = fixture("account")
    obj.update(
        id=account_id,
        created=now,
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        email="billing@gatehouse.test",
    )
    obj["business_profile"]["name"] = "Gatehouse (fake Stripe)"
    obj["settings"]["dashboard"]["display_name"] = "Gatehouse (fake Stripe)"
    obj["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
    for key in ("currently_due", "eventually_due"):
        obj["requirements"][key] = []
    obj["requirements"]["disabled_reason"] = None
    return obj


def customer(object_id: str, now: int, *, prefix: str) -> dict:
    obj = fixture("customer")
    obj.update(
        id=object_id,
        created=now,
        currency=None,
        discount=None,  # dj-stripe 2.11 syncs a non-null discount as a coupon it must fetch
        invoice_prefix=prefix,
        shipping=None,
        livemode=False,
        metadata={},
    )
    return obj


def product(object_id: str, now: int) -> dict:
    obj = fixture("product")
    obj.update(
        id=object_id,
        created=now,
        updated=now,
        default_price=None,
        description=None,
        package_dimensions=None,
        type="service",
        metadata={},
        livemode=False,
    )
    return obj


def price(object_id: str, now: int) -> dict:
    obj = fixture("price")
    obj.update(
        id=object_id,
        created=now,
        custom_unit_amount=None,
        transform_quantity=None,
        recurring=None,
        type="one_time",
        metadata={},
        livemode=False,
    )
    return obj


def plan_from_price(price_obj: dict) -> dict:
    """The legacy ``plan`` view of a recurring price that subscription items still carry."""
    obj = fixture("plan")
    recurring = price_obj.get("recurring") or {}
    obj.update(
        id=price_obj["id"],
        active=price_obj["active"],
        amount=price_obj["unit_amount"],
        amount_decimal=price_obj["unit_amount_decimal"],
        billing_scheme=price_obj["billing_scheme"],
        created=price_obj["created"],
        currency=price_obj["currency"],
        interval=recurring.get("interval"),
        interval_count=recurring.get("interval_count"),
        metadata=copy.deepcopy(price_obj["metadata"]),
        meter=recurring.get("meter"),
        nickname=price_obj["nickname"],
        product=price_obj["product"],
        tiers_mode=price_obj["tiers_mode"],
        transform_usage=None,
        trial_period_days=recurring.get("trial_period_days"),
        usage_type=recurring.get("usage_type"),
        livemode=False,
    )
    return obj


def entitlement_feature(object_id: str, *, name: str, lookup_key: str, metadata: dict) -> dict:
    obj = fixture("entitlements.feature")
    obj.update(id=object_id, name=name, lookup_key=lookup_key, metadata=metadata, active=True, livemode=False)
    return obj


def product_feature(object_id: str, feature: dict) -> dict:
    obj = fixture("product_feature")
    obj.update(id=object_id, entitlement_feature=copy.deepcopy(feature), livemode=False)
    return obj


def checkout_session(object_id: str, now: int) -> dict:
    obj = fixture("checkout.session")
    obj.update(
        id=object_id,
        created=now,
        expires_at=now + 24 * 3600,
        after_expiration=None,
        allow_promotion_codes=None,
        automatic_tax={"enabled": False, "liability": None, "provider": None, "status": None},
        cancel_url=None,
        consent=None,
        consent_collection=None,
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        customer_details=None,
        invoice_creation=None,
        payment_intent=None,
        payment_method_collection="always",
        payment_method_configuration_details=None,
        payment_method_options={},
        shipping_address_collection=None,
        shipping_cost=None,
        success_url=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode="hosted_page",
        url=f"https://checkout.stripe.com/c/pay/{object_id}",
        adaptive_pricing={"enabled": False},
        discounts=[],
        collected_information=None,
        permissions=None,
        currency_conversion=None,
        managed_payments={"enabled": False},
        metadata={},
        livemode=False,
    )
    return obj


def checkout_line_item(object_id: str, price_obj: dict, quantity: int, description: str) -> dict:
    obj = fixture("item")
    amount = (price_obj["unit_amount"] or 0) * quantity
    obj.update(
        id=object_id,
        amount_discount=0,
        amount_subtotal=amount,
        amount_tax=0,
        amount_total=amount,
        currency=price_obj["currency"],
        description=description,
        price=copy.deepcopy(price_obj),
        quantity=quantity,
        metadata={},
        adjustable_quantity=None,
    )
    return obj


def subscription(object_id: str, now: int, *, customer_id: str, currency: str) -> dict:
    obj = fixture("subscription")
    obj.update(
        id=object_id,
        created=now,
        start_date=now,
        billing_cycle_anchor=now,
        billing_cycle_anchor_config=None,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        cancel_at=None,
        canceled_at=None,
        ended_at=None,
        cancel_at_period_end=False,
        currency=currency,
        customer=customer_id,
        items={
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={object_id}",
        },
        next_pending_invoice_item_invoice=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        pending_invoice_item_interval=None,
        pending_update=None,
        transfer_data=None,
        trial_end=None,
        trial_start=None,
        billing_thresholds=None,
        billing_mode={"type": "classic", "flexible": None},
        managed_payments={"enabled": False},
        billing_schedules=[],
        invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}},
        metadata={},
        livemode=False,
    )
    return obj


def subscription_item(
    object_id: str, now: int, *, subscription_id: str, price_obj: dict, quantity: int, period: tuple[int, int]
) -> dict:
    obj = fixture("subscription_item")
    obj.update(
        id=object_id,
        created=now,
        price=copy.deepcopy(price_obj),
        plan=plan_from_price(price_obj),
        quantity=quantity,
        subscription=subscription_id,
        current_period_start=period[0],
        current_period_end=period[1],
        billing_thresholds=None,
        metadata={},
    )
    return obj


def invoice(object_id: str, now: int, *, customer_obj: dict, currency: str) -> dict:
    obj = fixture("invoice")
    obj.update(
        id=object_id,
        created=now,
        account_name="Gatehouse (fake Stripe)",
        amount_overpaid=0,
        automatic_tax={"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
        currency=currency,
        customer=customer_obj["id"],
        customer_address=copy.deepcopy(customer_obj.get("address")),
        customer_email=customer_obj.get("email"),
        customer_name=customer_obj.get("name"),
        customer_phone=customer_obj.get("phone"),
        customer_shipping=None,
        due_date=None,
        effective_at=None,
        ending_balance=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        last_finalization_error=None,
        lines=list_object([], f"/v1/invoices/{object_id}/lines"),
        next_payment_attempt=None,
        parent=None,
        payment_settings={"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        status="draft",
        subscription=None,  # moved to parent.subscription_details in current API versions
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=now,
        metadata={},
        livemode=False,
    )
    return obj


def invoice_line(
    object_id: str,
    *,
    invoice_id: str | None,
    amount: int,
    currency: str,
    description: str,
    period: tuple[int, int],
    quantity: int,
    price_obj: dict,
    subscription_id: str | None,
    subscription_item_id: str | None,
    proration: bool = False,
    metadata: dict | None = None,
) -> dict:
    obj = fixture("line_item")
    obj.update(
        id=object_id,
        amount=amount,
        currency=currency,
        description=description,
        invoice=invoice_id,
        period={"start": period[0], "end": period[1]},
        quantity=quantity,
        quantity_decimal=str(quantity),
        subscription=subscription_id,
        pretax_credit_amounts=[],
        taxes=[],
        subtotal=amount,
        metadata=metadata or {},
        parent={
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
                "subscription_item": subscription_item_id,
            },
        },
        pricing={
            "type": "price_details",
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
    )
    return obj


def invoice_payment(object_id: str, now: int, *, invoice_obj: dict, payment_intent_id: str, paid: bool) -> dict:
    obj = fixture("invoice_payment")
    obj.update(
        id=object_id,
        created=now,
        amount_paid=invoice_obj["amount_due"] if paid else None,
        amount_requested=invoice_obj["amount_due"],
        currency=invoice_obj["currency"],
        invoice=invoice_obj["id"],
        is_default=True,
        livemode=False,
        payment={"type": "payment_intent", "payment_intent": payment_intent_id},
        status="paid" if paid else "open",
        status_transitions={"canceled_at": None, "paid_at": now if paid else None},
    )
    return obj


def payment_method(object_id: str, now: int, *, customer_id: str | None, email: str | None) -> dict:
    obj = fixture("payment_method")
    obj.update(id=object_id, created=now, customer=customer_id, metadata={}, livemode=False)
    obj["billing_details"].update(email=email, phone=None, name=None)
    obj["billing_details"]["address"] = {k: None for k in obj["billing_details"]["address"]}
    obj["card"]["generated_from"] = None
    obj["card"]["wallet"] = None
    return obj


def payment_intent(object_id: str, now: int, *, amount: int, currency: str, customer_id: str) -> dict:
    obj = fixture("payment_intent")
    obj.update(
        id=object_id,
        created=now,
        amount=amount,
        currency=currency,
        customer=customer_id,
        canceled_at=None,
        client_secret=f"{object_id}_secret_{random_token(25)}",
        last_payment_error=None,
        next_action=None,
        processing=None,
        transfer_data=None,
        automatic_payment_methods=None,
        payment_method_configuration_details=None,
        managed_payments={"enabled": False},
        description="Subscription creation",
        metadata={},
        livemode=False,
    )
    return obj


def charge(object_id: str, now: int, *, amount: int, currency: str, customer_id: str, payment_intent_id: str) -> dict:
    obj = fixture("charge")
    obj.update(
        id=object_id,
        created=now,
        amount=amount,
        amount_captured=amount,
        amount_refunded=0,
        balance_transaction=None,  # a txn_ id would send dj-stripe to /v1/balance_transactions
        captured=True,
        currency=currency,
        customer=customer_id,
        description="Subscription creation",
        payment_intent=payment_intent_id,
        receipt_url=f"https://pay.stripe.com/receipts/payment/{random_token(40)}",
        refunded=False,
        refunds=list_object([], f"/v1/charges/{object_id}/refunds"),
        source=None,
        transfer_data=None,
        metadata={},
        livemode=False,
    )
    obj["outcome"].update(
        network_status="approved_by_network",
        reason=None,
        risk_level="normal",
        seller_message="Payment complete.",
        type="authorized",
    )
    details = obj["payment_method_details"]["card"]
    details.update(installments=None, wallet=None, mandate=None, three_d_secure=None)
    return obj


def refund(object_id: str, now: int, *, charge_obj: dict, amount: int) -> dict:
    obj = fixture("refund")
    obj.update(
        id=object_id,
        created=now,
        amount=amount,
        charge=charge_obj["id"],
        currency=charge_obj["currency"],
        customer=charge_obj["customer"],
        payment_intent=charge_obj["payment_intent"],
        payment_method=charge_obj["payment_method"],
        status="succeeded",
        metadata={},
    )
    obj["destination_details"] = {
        "card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"},
        "type": "card",
    }
    return obj


def portal_session(object_id: str, now: int, *, customer_id: str, return_url: str | None) -> dict:
    obj = fixture("billing_portal.session")
    obj.update(
        id=object_id,
        created=now,
        configuration="bpc_1FakeDefaultPortalConfig",
        customer=customer_id,
        flow=None,
        livemode=False,
        return_url=return_url,
        url=f"https://billing.stripe.com/p/session/test_{random_token(40)}",
    )
    return obj


def webhook_endpoint(object_id: str, now: int, *, url: str, enabled_events: list, api_version: str | None) -> dict:
    obj = fixture("webhook_endpoint")
    obj.update(
        id=object_id,
        created=now,
        url=url,
        enabled_events=enabled_events,
        api_version=api_version,
        description=None,
        metadata={},
        livemode=False,
    )
    return obj


def event(object_id: str, now: int, *, type: str, data_object: dict, api_version: str) -> dict:
    obj = fixture("event")
    obj.update(
        id=object_id,
        created=now,
        api_version=api_version,
        data={"object": data_object},
        livemode=False,
        pending_webhooks=1,
        type=type,
    )
    return obj


def deleted(kind: str, object_id: str) -> dict:
    return {"id": object_id, "object": kind, "deleted": True}
