"""The fake's memory and behaviour: Stripe's endpoints as methods, plus lifecycle helpers for tests.

Every endpoint is a ``Route`` naming the SDK's parameter type for it (see ``params.py``); the method
receives validated, typed parameters and returns the response body, or raises ``StripeFault``.
Objects are stored as plain dicts and copied on the way out, so a test can never edit the fake's
state by accident. Times come from ``now()``, which tests may move with ``advance_time()``.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

import stripe.params as P
import stripe.params.billing_portal as BP
import stripe.params.checkout as CO
import stripe.params.entitlements as EN
from stripe._api_version import _ApiVersion
from stripe._encode import _api_encode

from . import objects
from .errors import StripeFault, invalid, missing_parameter, no_such
from .params import parse_form, schema_for, validate

KINDS = (
    "billing_portal.session",
    "charge",
    "checkout.session",
    "customer",
    "entitlements.feature",
    "event",
    "invoice",
    "invoice_payment",
    "payment_intent",
    "payment_method",
    "price",
    "product",
    "product_feature",
    "refund",
    "subscription",
    "webhook_endpoint",
)
LIVE_SUBSCRIPTION_STATUSES = ("active", "past_due", "trialing", "unpaid", "incomplete", "paused")
ENDED_SUBSCRIPTION_STATUSES = ("canceled", "incomplete_expired")
# Checkout's one template variable in success_url/return_url, replaced by the session's id on redirect.
CHECKOUT_SESSION_ID = "{CHECKOUT_SESSION_ID}"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: str
    params: type

    @cached_property
    def regex(self) -> re.Pattern:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$")


ROUTES = [
    Route("GET", "/v1/account", "account_current", P.AccountRetrieveCurrentParams),
    Route("GET", "/v1/accounts/{id}", "account_retrieve", P.AccountRetrieveParams),
    Route("POST", "/v1/customers", "customer_create", P.CustomerCreateParams),
    Route("GET", "/v1/customers", "customer_list", P.CustomerListParams),
    Route("GET", "/v1/customers/search", "customer_search", P.CustomerSearchParams),
    Route("GET", "/v1/customers/{id}", "customer_retrieve", P.CustomerRetrieveParams),
    Route("POST", "/v1/customers/{id}", "customer_modify", P.CustomerModifyParams),
    Route("DELETE", "/v1/customers/{id}", "customer_delete", P.CustomerDeleteParams),
    Route("POST", "/v1/products", "product_create", P.ProductCreateParams),
    Route("GET", "/v1/products", "product_list", P.ProductListParams),
    Route("GET", "/v1/products/search", "product_search", P.ProductSearchParams),
    Route("GET", "/v1/products/{id}", "product_retrieve", P.ProductRetrieveParams),
    Route("POST", "/v1/products/{id}", "product_modify", P.ProductModifyParams),
    Route("DELETE", "/v1/products/{id}", "product_delete", P.ProductDeleteParams),
    Route("GET", "/v1/products/{id}/features", "product_feature_list", P.ProductListFeaturesParams),
    Route("POST", "/v1/products/{id}/features", "product_feature_create", P.ProductCreateFeatureParams),
    Route("DELETE", "/v1/products/{id}/features/{feature}", "product_feature_delete", P.ProductDeleteFeatureParams),
    Route("POST", "/v1/entitlements/features", "feature_create", EN.FeatureCreateParams),
    Route("GET", "/v1/entitlements/features", "feature_list", EN.FeatureListParams),
    Route("POST", "/v1/prices", "price_create", P.PriceCreateParams),
    Route("GET", "/v1/prices", "price_list", P.PriceListParams),
    Route("GET", "/v1/prices/search", "price_search", P.PriceSearchParams),
    Route("GET", "/v1/prices/{id}", "price_retrieve", P.PriceRetrieveParams),
    Route("POST", "/v1/prices/{id}", "price_modify", P.PriceModifyParams),
    Route("POST", "/v1/checkout/sessions", "checkout_create", CO.SessionCreateParams),
    Route("GET", "/v1/checkout/sessions", "checkout_list", CO.SessionListParams),
    Route("GET", "/v1/checkout/sessions/{id}", "checkout_retrieve", CO.SessionRetrieveParams),
    Route("GET", "/v1/checkout/sessions/{id}/line_items", "checkout_line_items", CO.SessionListLineItemsParams),
    Route("POST", "/v1/checkout/sessions/{id}/expire", "checkout_expire", CO.SessionExpireParams),
    Route("POST", "/v1/subscriptions", "subscription_create", P.SubscriptionCreateParams),
    Route("GET", "/v1/subscriptions", "subscription_list", P.SubscriptionListParams),
    Route("GET", "/v1/subscriptions/search", "subscription_search", P.SubscriptionSearchParams),
    Route("GET", "/v1/subscriptions/{id}", "subscription_retrieve", P.SubscriptionRetrieveParams),
    Route("POST", "/v1/subscriptions/{id}", "subscription_modify", P.SubscriptionModifyParams),
    Route("DELETE", "/v1/subscriptions/{id}", "subscription_cancel", P.SubscriptionCancelParams),
    Route("GET", "/v1/subscription_items", "subscription_item_list", P.SubscriptionItemListParams),
    Route("GET", "/v1/subscription_items/{id}", "subscription_item_retrieve", P.SubscriptionItemRetrieveParams),
    Route("POST", "/v1/invoices/create_preview", "invoice_create_preview", P.InvoiceCreatePreviewParams),
    Route("GET", "/v1/invoices", "invoice_list", P.InvoiceListParams),
    Route("GET", "/v1/invoices/search", "invoice_search", P.InvoiceSearchParams),
    Route("GET", "/v1/invoices/{id}", "invoice_retrieve", P.InvoiceRetrieveParams),
    Route("GET", "/v1/invoices/{id}/lines", "invoice_lines", P.InvoiceListLinesParams),
    Route("POST", "/v1/invoices/{id}/pay", "invoice_pay", P.InvoicePayParams),
    Route("GET", "/v1/invoice_payments", "invoice_payment_list", P.InvoicePaymentListParams),
    Route("GET", "/v1/invoice_payments/{id}", "invoice_payment_retrieve", P.InvoicePaymentRetrieveParams),
    Route("POST", "/v1/refunds", "refund_create", P.RefundCreateParams),
    Route("GET", "/v1/refunds", "refund_list", P.RefundListParams),
    Route("GET", "/v1/refunds/{id}", "refund_retrieve", P.RefundRetrieveParams),
    Route("POST", "/v1/billing_portal/sessions", "portal_session_create", BP.SessionCreateParams),
    Route("POST", "/v1/webhook_endpoints", "webhook_endpoint_create", P.WebhookEndpointCreateParams),
    Route("GET", "/v1/webhook_endpoints", "webhook_endpoint_list", P.WebhookEndpointListParams),
    Route("GET", "/v1/webhook_endpoints/{id}", "webhook_endpoint_retrieve", P.WebhookEndpointRetrieveParams),
    Route("POST", "/v1/webhook_endpoints/{id}", "webhook_endpoint_modify", P.WebhookEndpointModifyParams),
    Route("DELETE", "/v1/webhook_endpoints/{id}", "webhook_endpoint_delete", P.WebhookEndpointDeleteParams),
    Route("GET", "/v1/events", "event_list", P.EventListParams),
    Route("GET", "/v1/events/{id}", "event_retrieve", P.EventRetrieveParams),
    Route("GET", "/v1/payment_intents", "payment_intent_list", P.PaymentIntentListParams),
    Route("GET", "/v1/payment_intents/{id}", "payment_intent_retrieve", P.PaymentIntentRetrieveParams),
    Route("GET", "/v1/charges", "charge_list", P.ChargeListParams),
    Route("GET", "/v1/charges/{id}", "charge_retrieve", P.ChargeRetrieveParams),
    Route("GET", "/v1/payment_methods/{id}", "payment_method_retrieve", P.PaymentMethodRetrieveParams),
]

# Fields each search endpoint accepts (Stripe's "Search query language" page).
SEARCH_FIELDS = {
    "customer": {"created", "email", "metadata", "name", "phone"},
    "product": {"active", "created", "description", "metadata", "name", "shippable", "url"},
    "price": {"active", "currency", "lookup_key", "metadata", "product", "type", "created"},
    "subscription": {"created", "metadata", "status", "canceled_at"},
    "invoice": {
        "created",
        "currency",
        "customer",
        "metadata",
        "number",
        "receipt_number",
        "status",
        "subscription",
        "total",
    },
}
_CLAUSE = re.compile(
    r"^(?P<neg>-)?(?P<field>metadata\[(?P<q>['\"])(?P<key>[^'\"]+)(?P=q)\]|[a-z_]+)"
    r"(?P<op>:|~|>=|<=|>|<)(?P<value>'[^']*'|\"[^\"]*\"|-?\d+|null)$"
)


@dataclass
class Lifecycle:
    """What a lifecycle helper did: the objects it touched and the events Stripe would send, in order."""

    subscription: dict | None = None
    invoice: dict | None = None
    customer: dict | None = None
    session: dict | None = None
    payment_intent: dict | None = None
    charge: dict | None = None
    events: list = field(default_factory=list)
    # Where Checkout then sends the customer's browser: the session's success_url (or return_url)
    # with Stripe's template variable {CHECKOUT_SESSION_ID} filled in, as Stripe does on redirect.
    redirect_url: str | None = None

    def event(self, type: str) -> dict:
        """The one event of ``type`` among ``events``."""
        found = [e for e in self.events if e["type"] == type]
        if len(found) != 1:
            raise LookupError(f"expected one {type} event, found {len(found)}: {[e['type'] for e in self.events]}")
        return found[0]


def _previous_attributes(before: dict, after: dict) -> dict:
    """Stripe's ``previous_attributes``: the old values of what changed, nested dicts diffed key by key."""
    previous = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "object" not in old:
            previous[key] = _previous_attributes(old, new)
        else:
            previous[key] = old
    for key in after.keys() - before.keys():
        previous[key] = None
    return previous


def _merge_metadata(current: dict, update, param: str = "metadata") -> dict:
    if update == "":
        return {}
    merged = dict(current or {})
    for key, value in update.items():
        if len(key) > 40:
            raise invalid(f"{param}[{key}]", "Metadata keys can have up to 40 characters.")
        if not isinstance(value, str):
            raise invalid(f"{param}[{key}]", f"Invalid value for {param}[{key}]: metadata values must be strings.")
        if len(value) > 500:
            raise invalid(f"{param}[{key}]", "Metadata values can have up to 500 characters.")
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise invalid(param, "You can have up to 50 metadata keys.")
    return merged


def _created_filter(value):
    """The ``created`` list filter: an exact timestamp or a dict of gt/gte/lt/lte."""
    if value in (None, ""):
        return lambda ts: True
    if isinstance(value, int):
        return lambda ts: ts == value
    checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    bounds = [(checks[k], v) for k, v in value.items() if k in checks and v != ""]
    return lambda ts: all(check(ts, bound) for check, bound in bounds)


class FakeStripeState:
    """Objects, endpoints and lifecycle helpers. ``FakeStripe`` (server.py) serves them over HTTP."""

    def __init__(self, *, api_version: str | None = None, account_id: str = "acct_1FakeGatehouseAcct"):
        self.api_version = api_version or _ApiVersion.CURRENT
        self.account_id = account_id
        self.time_offset = 0
        self._lock = threading.RLock()
        self._reset_state()

    def _reset_state(self) -> None:
        self.store: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
        self.deleted: dict[str, str] = {}  # id -> object type
        self.events: list[dict] = []
        self._session_items: dict[str, list] = {}
        self._session_subscription_data: dict[str, dict] = {}
        self._pending_prorations: dict[str, list] = {}
        self._webhook_secrets: dict[str, str] = {}
        self._invoice_numbers: dict[str, int] = {}
        self._feature_products: dict[str, str] = {}  # product_feature id -> product id
        self._declines = 0
        self._context: tuple[str | None, str | None] = (None, None)  # (request id, idempotency key)
        self.account = objects.account(self.account_id, self.now())

    # --- clock, lookups ---------------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time()) + self.time_offset

    def advance_time(self, seconds: int) -> int:
        """Move the fake's clock (timestamps it writes, proration defaults); returns the new now()."""
        self.time_offset += seconds
        return self.now()

    def _take_decline(self) -> bool:
        if self._declines:
            self._declines -= 1
            return True
        return False

    def decline_next_payment(self, times: int = 1) -> None:
        """Decline the card on the next ``times`` payment attempts (plan changes, renewals, checkout, pay).

        A plan change then follows its ``payment_behavior``: ``error_if_incomplete`` answers 402
        (``CardError``) and changes nothing; ``pending_if_incomplete`` keeps the old items and puts
        the new ones in ``pending_update`` until the open invoice is paid; otherwise the change
        stands and the subscription turns ``past_due``.
        """
        with self._lock:
            self._declines += times

    def get(self, object_id: str) -> dict:
        """A copy of any stored object (subscription items and the account included), as the API shows it."""
        with self._lock:
            return self._render(self._find(object_id))

    def all(self, kind: str) -> list[dict]:
        """Copies of every stored object of one type, newest first."""
        with self._lock:
            return [self._render(o) for o in reversed(self.store[kind].values())]

    def _find(self, object_id: str) -> dict:
        if object_id == self.account_id:
            return self.account
        kind = objects.kind_of(object_id)
        if kind == "subscription_item":
            return self._item(object_id)
        if kind is None or object_id not in self.store.get(kind, {}):
            raise KeyError(object_id)
        return self.store[kind][object_id]

    def _get(self, kind: str, object_id, *, param: str | None = None) -> dict:
        """The stored object, or Stripe's error: 404 for the URL's object, 400 for a parameter naming it."""
        if not isinstance(object_id, str) or object_id not in self.store[kind]:
            raise no_such(kind, str(object_id), param=param or "id", status=400 if param else 404)
        return self.store[kind][object_id]

    def _item(self, item_id: str, *, param: str | None = None) -> dict:
        for sub in self.store["subscription"].values():
            for item in sub["items"]["data"]:
                if item["id"] == item_id:
                    return item
        raise no_such("subscription_item", item_id, param=param or "id", status=400 if param else 404)

    def _put(self, obj: dict) -> dict:
        self.store[obj["object"]][obj["id"]] = obj
        return obj

    def _render(self, obj: dict) -> dict:
        """A copy of a stored object with the prices inside subscription items brought up to date."""
        out = copy.deepcopy(obj)
        items = out["items"]["data"] if out.get("object") == "subscription" else [out]
        for item in items:
            if item.get("object") == "subscription_item" and item["price"]["id"] in self.store["price"]:
                item["price"] = copy.deepcopy(self.store["price"][item["price"]["id"]])
                item["plan"] = objects.plan_from_price(item["price"])
        return out

    # --- expansion, lists ---------------------------------------------------------------------------------

    def _respond(self, obj: dict, params: dict) -> dict:
        body = self._render(obj) if "id" in obj and obj.get("object") != "list" else obj
        for path in params.get("expand") or []:
            self._expand(body, path.split("."))
        return body

    def _expand(self, node, parts: list[str]) -> None:
        if isinstance(node, list):
            for element in node:
                self._expand(element, parts)
            return
        if not isinstance(node, dict) or not parts:
            return
        key, rest = parts[0], parts[1:]
        if key not in node:
            included = self._includable(node, key)
            if included is None:
                return
            node[key] = included
        elif isinstance(node[key], str):
            node[key] = self._expanded(node[key])
        elif isinstance(node[key], list) and all(isinstance(v, str) for v in node[key]):
            node[key] = [self._expanded(v) for v in node[key]]
        if rest:
            self._expand(node[key], rest)

    def _expanded(self, object_id: str):
        try:
            return self._render(self._find(object_id))
        except KeyError:
            return object_id

    def _includable(self, node: dict, key: str):
        """Fields Stripe leaves out of an object unless ``expand`` asks for them."""
        kind, object_id = node.get("object"), node.get("id")
        if kind == "checkout.session" and key == "line_items":
            items = copy.deepcopy(self._session_items.get(object_id, []))
            return objects.list_object(items, f"/v1/checkout/sessions/{object_id}/line_items")
        if kind == "invoice" and key == "payments":
            payments = [copy.deepcopy(p) for p in self.store["invoice_payment"].values() if p["invoice"] == object_id]
            return objects.list_object(payments, f"/v1/invoice_payments?invoice={object_id}")
        if kind == "customer" and key in ("sources", "tax_ids", "subscriptions"):
            data = []
            if key == "subscriptions":
                data = [self._render(s) for s in self.store["subscription"].values() if s["customer"] == object_id]
            return objects.list_object(data, f"/v1/customers/{object_id}/{key}")
        if kind == "price" and key == "currency_options":
            return {
                node["currency"]: {
                    "custom_unit_amount": None,
                    "tax_behavior": node["tax_behavior"],
                    "unit_amount": node["unit_amount"],
                    "unit_amount_decimal": node["unit_amount_decimal"],
                }
            }
        if key == "breakdown" and "amount_discount" in node:
            return {"discounts": [], "taxes": []}
        return None

    def _page(self, items: list, params: dict, url: str, kind: str) -> dict:
        """A list page, newest first, with Stripe's limit / starting_after / ending_before cursors."""
        limit = params.get("limit", 10)
        if limit in ("", None):
            limit = 10
        if limit < 1 or limit > 100:
            raise invalid("limit", "This value must be greater than or equal to 1 and less than or equal to 100.")
        ids = [o["id"] for o in items]
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise invalid(
                "starting_after", "You may only specify one of these parameters: ending_before, starting_after."
            )
        if after:
            if after not in ids:
                raise no_such(kind, after, param="starting_after", status=400)
            start = ids.index(after) + 1
            window, has_more = items[start : start + limit], len(items) > start + limit
        elif before:
            if before not in ids:
                raise no_such(kind, before, param="ending_before", status=400)
            end = ids.index(before)
            start = max(0, end - limit)
            window, has_more = items[start:end], start > 0
        else:
            window, has_more = items[:limit], len(items) > limit
        return objects.list_object([self._render(o) for o in window], url, has_more=has_more)

    def _list(self, kind: str, params: dict, url: str, keep=lambda o: True) -> dict:
        created = _created_filter(params.get("created"))
        items = [o for o in reversed(self.store[kind].values()) if keep(o) and created(o["created"])]
        return self._page(items, params, url, kind)

    def _search(self, kind: str, params: dict, url: str) -> dict:
        clauses = self._parse_query(kind, params["query"])
        joiner, tests = clauses
        combine = all if joiner == "AND" else any
        items = [
            o
            for o in reversed(self.store[kind].values())
            if combine(test(self._search_value(o, f)) for f, test in tests)
        ]
        limit = params.get("limit") or 10
        page = [self._render(o) for o in items[:limit]]
        return {
            "object": "search_result",
            "data": page,
            "has_more": len(items) > limit,
            "next_page": None,
            "url": url,
        }

    def _parse_query(self, kind: str, query: str):
        parts = re.split(r"\s+(AND|OR)\s+", query.strip())
        joiners = set(parts[1::2])
        if len(joiners) > 1:
            raise invalid("query", "Search queries cannot mix AND and OR.")
        tests = []
        for clause in parts[0::2]:
            match = _CLAUSE.match(clause.strip())
            if not match:
                raise invalid("query", f"Invalid search query: could not parse `{clause}`.")
            name = "metadata" if match["key"] else match["field"]
            if name not in SEARCH_FIELDS[kind]:
                raise invalid(
                    "query", f"Field `{name}` is an unsupported search field for resource `{kind}s`.", code=None
                )
            tests.append(((name, match["key"]), self._clause_test(match)))
        return (joiners.pop() if joiners else "AND"), tests

    @staticmethod
    def _clause_test(match):
        raw, op, negate = match["value"], match["op"], bool(match["neg"])
        value = None if raw == "null" else raw.strip("'\"")

        def test(actual) -> bool:
            if isinstance(actual, bool):
                actual = "true" if actual else "false"
            if op == ":":
                result = (actual is None) if value is None else str(actual).lower() == value.lower()
            elif op == "~":
                result = actual is not None and value.lower() in str(actual).lower()
            else:
                if actual is None:
                    return False
                numbers = {">": int.__gt__, "<": int.__lt__, ">=": int.__ge__, "<=": int.__le__}
                result = numbers[op](int(actual), int(value))
            return not result if negate else result

        return test

    @staticmethod
    def _search_value(obj: dict, field_spec):
        name, key = field_spec
        if name == "metadata":
            return (obj.get("metadata") or {}).get(key)
        if name == "subscription" and obj.get("object") == "invoice":
            return ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return obj.get(name)

    # --- events --------------------------------------------------------------------------------------------

    def event(self, type: str, obj, previous_attributes: dict | None = None, *, api_version: str | None = None) -> dict:
        """Build and store the event Stripe would send for ``obj`` (a dict, a StripeObject, or an id).

        The event is retrievable at GET /v1/events/{id}; its data.object is a snapshot taken now.
        """
        with self._lock:
            if isinstance(obj, str):
                obj = self._find(obj)
            elif hasattr(obj, "to_dict"):
                obj = obj.to_dict()
            return self._emit(type, obj, previous_attributes, api_version=api_version)

    def _emit(self, type: str, obj: dict, previous: dict | None = None, *, api_version: str | None = None) -> dict:
        snapshot = self._render(obj) if obj.get("id") and obj.get("object") != "event" else copy.deepcopy(obj)
        evt = objects.event(
            objects.new_id("event"),
            self.now(),
            type=type,
            data_object=snapshot,
            api_version=api_version or self.api_version,
        )
        if previous is not None:
            evt["data"]["previous_attributes"] = copy.deepcopy(previous)
        request_id, key = self._context
        evt["request"] = {"id": request_id, "idempotency_key": key}
        self._put(evt)
        self.events.append(evt)
        return copy.deepcopy(evt)

    def events_of_type(self, type: str) -> list[dict]:
        return [copy.deepcopy(e) for e in self.events if e["type"] == type]

    # --- direct calls (no HTTP, no request log) -----------------------------------------------------------

    def call(self, method: str, path: str, **params) -> dict:
        """Run one endpoint as the HTTP layer would (same validation), without HTTP or the request log.

        Raises ``StripeFault`` where Stripe would answer with an error.
        """
        route, ids = self._route(method.upper(), path)
        form = urlencode(list(_api_encode(params)))
        with self._lock:
            return self._run(route, ids, parse_form(form))

    def _route(self, method: str, path: str):
        for route in ROUTES:
            match = route.regex.match(path)
            if match and route.method == method:
                return route, match.groupdict()
        raise StripeFault(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/.",
        )

    def _run(self, route: Route, ids: dict, raw_params: dict) -> dict:
        return self._dispatch(route, ids, validate(raw_params, schema_for(route.params)))

    def _dispatch(self, route: Route, ids: dict, params: dict) -> dict:
        body = getattr(self, "api_" + route.handler)(params, **ids)
        if body.get("object") in ("list", "search_result"):  # single objects expand in _respond
            for path in params.get("expand") or []:
                self._expand(body, path.split("."))
        return body

    def create_customer(self, **params) -> dict:
        return self.call("POST", "/v1/customers", **params)

    def create_product(self, **params) -> dict:
        return self.call("POST", "/v1/products", **params)

    def create_price(self, **params) -> dict:
        return self.call("POST", "/v1/prices", **params)

    def create_plan(
        self, name: str = "Pro", *, unit_amount: int = 2000, currency: str = "usd", interval: str = "month", **price
    ) -> tuple[dict, dict]:
        """A product with one recurring price: the usual starting point of a billing test."""
        product = self.create_product(name=name)
        price_obj = self.create_price(
            product=product["id"], unit_amount=unit_amount, currency=currency, recurring={"interval": interval}, **price
        )
        return self.get(product["id"]), price_obj

    def add_feature(self, product_id: str, *, name: str, lookup_key: str) -> dict:
        """An entitlement feature attached to a product (what GET /v1/products/{id}/features lists)."""
        feature = self.call("POST", "/v1/entitlements/features", name=name, lookup_key=lookup_key)
        return self.call("POST", f"/v1/products/{product_id}/features", entitlement_feature=feature["id"])

    def create_checkout_session(self, **params) -> dict:
        return self.call("POST", "/v1/checkout/sessions", **params)

    def create_webhook_endpoint(self, url: str = "https://gatehouse.test/stripe/webhook/", **params) -> dict:
        params.setdefault("enabled_events", ["*"])
        return self.call("POST", "/v1/webhook_endpoints", url=url, **params)

    def webhook_secret(self, endpoint_id: str | None = None) -> str:
        """The ``whsec_`` secret of an endpoint (of the only one when no id is given)."""
        if endpoint_id is None:
            if len(self._webhook_secrets) != 1:
                raise LookupError(f"{len(self._webhook_secrets)} webhook endpoints; name one")
            return next(iter(self._webhook_secrets.values()))
        return self._webhook_secrets[endpoint_id]

    # --- account ---------------------------------------------------------------------------------------------

    def api_account_current(self, params):
        return self._respond(self.account, params)

    def api_account_retrieve(self, params, id):
        if id != self.account_id:
            raise StripeFault(
                403,
                f"The provided key does not have access to account '{id}' (or that account does not exist). "
                "Application access may have been revoked.",
                type="invalid_request_error",
                code="account_invalid",
            )
        return self._respond(self.account, params)

    # --- customers ---------------------------------------------------------------------------------------------

    _CUSTOMER_FIELDS = ("address", "balance", "description", "email", "name", "phone", "preferred_locales", "shipping")

    def api_customer_create(self, params):
        obj = objects.customer(objects.new_id("customer"), self.now(), prefix=objects.random_token(8).upper())
        self._update_customer(obj, params)
        if params.get("payment_method"):
            self._attach_payment_method(params["payment_method"], obj, param="payment_method")
        self._put(obj)
        self._emit("customer.created", obj)
        return self._respond(obj, params)

    def _update_customer(self, obj: dict, params: dict) -> None:
        for key in self._CUSTOMER_FIELDS:
            if key in params:
                obj[key] = None if params[key] == "" else params[key]
        if "metadata" in params:
            obj["metadata"] = _merge_metadata(obj["metadata"], params["metadata"])
        if "invoice_settings" in params and params["invoice_settings"] != "":
            settings = params["invoice_settings"]
            if settings.get("default_payment_method"):
                pm = self._get("payment_method", settings["default_payment_method"], param="invoice_settings")
                obj["invoice_settings"]["default_payment_method"] = pm["id"]
            for key in ("footer", "custom_fields"):
                if key in settings:
                    obj["invoice_settings"][key] = settings[key] or None

    def api_customer_retrieve(self, params, id):
        if self.deleted.get(id) == "customer":
            return objects.deleted("customer", id)
        return self._respond(self._get("customer", id), params)

    def api_customer_modify(self, params, id):
        obj = self._get("customer", id)
        before = self._render(obj)
        self._update_customer(obj, params)
        self._emit_updated("customer.updated", obj, before)
        return self._respond(obj, params)

    def api_customer_delete(self, params, id):
        obj = self._get("customer", id)
        for sub in list(self.store["subscription"].values()):
            if sub["customer"] == id and sub["status"] not in ENDED_SUBSCRIPTION_STATUSES:
                self._end_subscription(sub, reason="cancellation_requested")
        del self.store["customer"][id]
        self.deleted[id] = "customer"
        self._emit("customer.deleted", obj)
        return objects.deleted("customer", id)

    def api_customer_list(self, params):
        email = params.get("email")
        return self._list("customer", params, "/v1/customers", lambda o: email in (None, o["email"]))

    def api_customer_search(self, params):
        return self._search("customer", params, "/v1/customers/search")

    # --- products and features -------------------------------------------------------------------------------

    _PRODUCT_FIELDS = (
        "active",
        "description",
        "images",
        "marketing_features",
        "name",
        "package_dimensions",
        "shippable",
        "statement_descriptor",
        "tax_code",
        "unit_label",
        "url",
    )

    def api_product_create(self, params):
        object_id = params.get("id") or objects.new_id("product")
        if object_id in self.store["product"]:
            raise invalid("id", f"Product already exists: {object_id}", code="resource_already_exists")
        obj = objects.product(object_id, self.now())
        self._update_product(obj, params)
        self._put(obj)
        self._emit("product.created", obj)
        if params.get("default_price_data"):
            data = params["default_price_data"]
            price_obj = self._new_price({**data, "product": object_id}, param_prefix="default_price_data")
            obj["default_price"] = price_obj["id"]
        return self._respond(obj, params)

    def _update_product(self, obj: dict, params: dict) -> None:
        for key in self._PRODUCT_FIELDS:
            if key in params:
                value = params[key]
                obj[key] = ([] if key in ("images", "marketing_features") else None) if value == "" else value
        if "metadata" in params:
            obj["metadata"] = _merge_metadata(obj["metadata"], params["metadata"])
        if params.get("default_price"):
            price_obj = self._get("price", params["default_price"], param="default_price")
            if price_obj["product"] != obj["id"]:
                raise invalid("default_price", f"The price {price_obj['id']} does not belong to this product.")
            obj["default_price"] = price_obj["id"]
        obj["updated"] = self.now()

    def api_product_retrieve(self, params, id):
        if self.deleted.get(id) == "product":
            raise no_such("product", id)
        return self._respond(self._get("product", id), params)

    def api_product_modify(self, params, id):
        obj = self._get("product", id)
        before = self._render(obj)
        self._update_product(obj, params)
        self._emit_updated("product.updated", obj, before)
        return self._respond(obj, params)

    def api_product_delete(self, params, id):
        obj = self._get("product", id)
        if any(p["product"] == id for p in self.store["price"].values()):
            raise invalid("id", "This product cannot be deleted because it has one or more user-created prices.")
        del self.store["product"][id]
        self.deleted[id] = "product"
        self._emit("product.deleted", obj)
        return objects.deleted("product", id)

    def api_product_list(self, params):
        def keep(o):
            if "active" in params and params["active"] != "" and o["active"] != params["active"]:
                return False
            return not params.get("ids") or o["id"] in params["ids"]

        return self._list("product", params, "/v1/products", keep)

    def api_product_search(self, params):
        return self._search("product", params, "/v1/products/search")

    def api_product_feature_list(self, params, id):
        self._get("product", id)
        features = [
            f for f in reversed(self.store["product_feature"].values()) if self._feature_products[f["id"]] == id
        ]
        return self._page(features, params, f"/v1/products/{id}/features", "product_feature")

    def api_product_feature_create(self, params, id):
        self._get("product", id)
        feature = self._get("entitlements.feature", params["entitlement_feature"], param="entitlement_feature")
        for existing in self.store["product_feature"].values():
            if self._feature_products[existing["id"]] == id and existing["entitlement_feature"]["id"] == feature["id"]:
                raise invalid("entitlement_feature", "This feature is already attached to this product.")
        obj = self._put(objects.product_feature(objects.new_id("product_feature"), feature))
        self._feature_products[obj["id"]] = id
        return self._respond(obj, params)

    def api_product_feature_delete(self, params, id, feature):
        if self._feature_products.get(feature) != id:
            raise no_such("product_feature", feature)
        del self.store["product_feature"][feature]
        del self._feature_products[feature]
        return objects.deleted("product_feature", feature)

    def api_feature_create(self, params):
        if any(f["lookup_key"] == params["lookup_key"] for f in self.store["entitlements.feature"].values()):
            raise invalid(
                "lookup_key", "A feature with this lookup_key already exists.", code="resource_already_exists"
            )
        obj = objects.entitlement_feature(
            objects.new_id("entitlements.feature"),
            name=params["name"],
            lookup_key=params["lookup_key"],
            metadata=_merge_metadata({}, params.get("metadata") or {}),
        )
        self._put(obj)
        return self._respond(obj, params)

    def api_feature_list(self, params):
        features = list(reversed(self.store["entitlements.feature"].values()))
        return self._page(features, params, "/v1/entitlements/features", "entitlements.feature")

    # --- prices ----------------------------------------------------------------------------------------------------

    def api_price_create(self, params):
        obj = self._new_price(params)
        return self._respond(obj, params)

    def _new_price(self, params: dict, *, param_prefix: str = "", active: bool = True) -> dict:
        def name(key):
            return f"{param_prefix}[{key}]" if param_prefix else key

        currency = params.get("currency")
        if not currency:
            raise missing_parameter(name("currency"))
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise invalid(name("currency"), f"Invalid currency: {currency}.")
        if params.get("product"):
            product_obj = self._get("product", params["product"], param=name("product"))
        elif params.get("product_data"):
            data = params["product_data"]
            if not data.get("name"):
                raise missing_parameter(name("product_data[name]"))
            product_obj = objects.product(objects.new_id("product"), self.now())
            self._update_product(product_obj, {k: v for k, v in data.items() if k != "id"})
            self._put(product_obj)
            self._emit("product.created", product_obj)
        else:
            raise missing_parameter(name("product"))
        scheme = params.get("billing_scheme") or "per_unit"
        amount = params.get("unit_amount")
        if amount in (None, "") and params.get("unit_amount_decimal") not in (None, ""):
            amount = int(params["unit_amount_decimal"])
        if amount in (None, "") and scheme == "per_unit" and not params.get("custom_unit_amount"):
            raise missing_parameter(name("unit_amount"))
        if isinstance(amount, int) and amount < 0:
            raise invalid(name("unit_amount"), "This value must be greater than or equal to 0.")
        lookup_key = params.get("lookup_key") or None
        if lookup_key:
            holder = next((p for p in self.store["price"].values() if p["lookup_key"] == lookup_key), None)
            if holder and not params.get("transfer_lookup_key"):
                raise invalid(name("lookup_key"), f"A price (`{holder['id']}`) already uses that lookup key.")
            if holder:
                holder["lookup_key"] = None
        obj = objects.price(objects.new_id("price"), self.now())
        recurring = params.get("recurring") or None
        if recurring:
            recurring = {
                "interval": recurring["interval"],
                "interval_count": recurring.get("interval_count") or 1,
                "meter": recurring.get("meter"),
                "usage_type": recurring.get("usage_type") or "licensed",
                "trial_period_days": recurring.get("trial_period_days") or None,
            }
        obj.update(
            active=active if params.get("active") in (None, "") else params["active"],
            billing_scheme=scheme,
            currency=currency.lower(),
            lookup_key=lookup_key,
            metadata=_merge_metadata({}, params.get("metadata") or {}),
            nickname=params.get("nickname") or None,
            product=product_obj["id"],
            recurring=recurring,
            tax_behavior=params.get("tax_behavior") or "unspecified",
            tiers_mode=params.get("tiers_mode") or None,
            type="recurring" if recurring else "one_time",
            unit_amount=amount if amount != "" else None,
            unit_amount_decimal=None if amount in (None, "") else str(amount),
        )
        self._put(obj)
        self._emit("price.created", obj)
        return obj

    def api_price_retrieve(self, params, id):
        return self._respond(self._get("price", id), params)

    def api_price_modify(self, params, id):
        obj = self._get("price", id)
        before = self._render(obj)
        if "active" in params and params["active"] != "":
            obj["active"] = params["active"]
        for key in ("nickname", "tax_behavior"):
            if key in params:
                obj[key] = params[key] or None
        if "lookup_key" in params:
            holder = next((p for p in self.store["price"].values() if p["lookup_key"] == params["lookup_key"]), None)
            if holder and holder is not obj and params["lookup_key"]:
                if not params.get("transfer_lookup_key"):
                    raise invalid("lookup_key", f"A price (`{holder['id']}`) already uses that lookup key.")
                holder["lookup_key"] = None
            obj["lookup_key"] = params["lookup_key"] or None
        if "metadata" in params:
            obj["metadata"] = _merge_metadata(obj["metadata"], params["metadata"])
        self._emit_updated("price.updated", obj, before)
        return self._respond(obj, params)

    def api_price_list(self, params):
        def keep(o):
            for key in ("product", "currency", "type"):
                if params.get(key) and o[key] != params[key]:
                    return False
            if "active" in params and params["active"] != "" and o["active"] != params["active"]:
                return False
            if params.get("lookup_keys") and o["lookup_key"] not in params["lookup_keys"]:
                return False
            wanted = (params.get("recurring") or {}).get("interval")
            return not wanted or (o["recurring"] or {}).get("interval") == wanted

        return self._list("price", params, "/v1/prices", keep)

    def api_price_search(self, params):
        return self._search("price", params, "/v1/prices/search")

    def _price_for(self, price_id, param: str, *, recurring: bool | None) -> dict:
        price_obj = self._get("price", price_id, param=param)
        if not price_obj["active"]:
            raise invalid(param, "The price specified is inactive. This field only accepts active prices.")
        if recurring is True and price_obj["type"] != "recurring":
            raise invalid(
                param,
                "The price specified is set to `type=one_time` but this field only accepts prices with "
                "`type=recurring`.",
            )
        return price_obj

    def _inline_price(self, data: dict, param: str, *, recurring: bool) -> dict:
        if recurring and not data.get("recurring"):
            raise missing_parameter(f"{param}[recurring]")
        return self._new_price(data, param_prefix=param, active=False)

    def _product_name(self, price_obj: dict) -> str:
        product_obj = self.store["product"].get(price_obj["product"])
        return product_obj["name"] if product_obj else price_obj["product"]

    def _price_label(self, price_obj: dict) -> str:
        return objects.price_label(price_obj, self._product_name(price_obj))

    # --- checkout sessions ---------------------------------------------------------------------------------------

    def api_checkout_create(self, params):
        mode = params.get("mode")
        if not mode:
            raise missing_parameter("mode")
        ui_mode = params.get("ui_mode") or "hosted_page"
        if ui_mode == "hosted_page" and not params.get("success_url"):
            raise missing_parameter("success_url")
        if ui_mode in ("embedded_page", "elements"):
            for key in ("success_url", "cancel_url"):
                if params.get(key):
                    raise invalid(key, f"`{key}` is not allowed when `ui_mode` is `{ui_mode}`.")
        if params.get("customer") and params.get("customer_email"):
            raise invalid("customer", "You may only specify one of these parameters: customer, customer_email.")
        if params.get("allow_promotion_codes") and params.get("discounts"):
            raise invalid(
                "allow_promotion_codes",
                "You may only specify one of these parameters: allow_promotion_codes, discounts.",
            )
        customer_obj = self._get("customer", params["customer"], param="customer") if params.get("customer") else None
        if mode != "subscription" and params.get("subscription_data"):
            raise invalid("subscription_data", f"You can not pass `subscription_data` in `{mode}` mode.")
        session_id = objects.new_id("checkout.session")
        items = self._checkout_items(params, mode)
        currencies = {i["currency"] for i in items}
        if len(currencies) > 1:
            raise invalid("line_items", "All prices on a Checkout Session must use the same currency.")
        obj = objects.checkout_session(session_id, self.now())
        total = sum(i["amount_total"] for i in items)
        obj.update(
            mode=mode,
            ui_mode=ui_mode,
            success_url=params.get("success_url"),
            cancel_url=params.get("cancel_url"),
            customer=customer_obj["id"] if customer_obj else None,
            customer_email=params.get("customer_email"),
            customer_creation=None if mode == "subscription" else params.get("customer_creation", "if_required"),
            client_reference_id=params.get("client_reference_id") or None,
            metadata=_merge_metadata({}, params.get("metadata") or {}),
            allow_promotion_codes=params.get("allow_promotion_codes") or None,
            billing_address_collection=params.get("billing_address_collection") or None,
            locale=params.get("locale") or None,
            currency=currencies.pop() if currencies else params.get("currency"),
            amount_subtotal=total,
            amount_total=total,
            expires_at=params.get("expires_at") or obj["expires_at"],
            payment_method_types=params.get("payment_method_types") or ["card"],
            client_secret=None if ui_mode == "hosted_page" else f"{session_id}_secret_{objects.random_token(24)}",
            url=obj["url"] if ui_mode == "hosted_page" else None,
        )
        if params.get("return_url"):
            obj["return_url"] = params["return_url"]
        self._session_items[session_id] = items
        self._session_subscription_data[session_id] = params.get("subscription_data") or {}
        self._put(obj)
        return self._respond(obj, params)

    def _checkout_items(self, params: dict, mode: str) -> list[dict]:
        line_items = params.get("line_items") or []
        if mode in ("payment", "subscription") and not line_items:
            raise missing_parameter("line_items")
        items = []
        for index, spec in enumerate(line_items):
            param = f"line_items[{index}]"
            if spec.get("price"):
                price_obj = self._price_for(spec["price"], f"{param}[price]", recurring=None)
            elif spec.get("price_data"):
                price_obj = self._inline_price(spec["price_data"], f"{param}[price_data]", recurring=False)
            else:
                raise missing_parameter(f"{param}[price]")
            metered = (price_obj["recurring"] or {}).get("usage_type") == "metered"
            quantity = spec.get("quantity")
            if quantity in (None, "") and not metered:
                raise missing_parameter(f"{param}[quantity]")
            if isinstance(quantity, int) and quantity < 1:
                raise invalid(f"{param}[quantity]", "This value must be greater than or equal to 1.")
            if mode == "payment" and price_obj["type"] == "recurring":
                raise invalid(
                    f"{param}[price]",
                    "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode "
                    "or use only one-time prices.",
                )
            label = self._product_name(price_obj)
            items.append(objects.checkout_line_item(objects.new_id("item"), price_obj, quantity or 1, label))
        if mode == "subscription" and not any(i["price"]["type"] == "recurring" for i in items):
            raise invalid(
                "line_items", "You must provide at least one recurring price in `subscription` mode when using prices."
            )
        return items

    def api_checkout_retrieve(self, params, id):
        return self._respond(self._get("checkout.session", id), params)

    def api_checkout_list(self, params):
        def keep(o):
            for key in ("customer", "subscription", "payment_intent", "status", "payment_link"):
                if params.get(key) and o.get(key) != params[key]:
                    return False
            return True

        return self._list("checkout.session", params, "/v1/checkout/sessions", keep)

    def api_checkout_line_items(self, params, id):
        self._get("checkout.session", id)
        items = self._session_items[id]
        return self._page(list(items), params, f"/v1/checkout/sessions/{id}/line_items", "item")

    def api_checkout_expire(self, params, id):
        return self._respond(self._expire_session(self._get("checkout.session", id)), params)

    def _expire_session(self, session: dict) -> dict:
        if session["status"] != "open":
            raise invalid(
                "session", f"This Checkout Session is not in an expirable state (status: {session['status']})."
            )
        session["status"] = "expired"
        self._emit("checkout.session.expired", session)
        return session

    # --- subscriptions ----------------------------------------------------------------------------------------------

    def api_subscription_create(self, params):
        if not params.get("customer"):
            raise missing_parameter("customer")
        customer_obj = self._get("customer", params["customer"], param="customer")
        if not params.get("items"):
            raise missing_parameter("items")
        lines = []
        for index, spec in enumerate(params["items"]):
            param = f"items[{index}]"
            if spec.get("price"):
                price_obj = self._price_for(spec["price"], f"{param}[price]", recurring=True)
            elif spec.get("price_data"):
                price_obj = self._inline_price(spec["price_data"], f"{param}[price_data]", recurring=True)
            else:
                raise missing_parameter(f"{param}[price]")
            lines.append((price_obj, spec.get("quantity") or 1))
        pm_id = params.get("default_payment_method") or customer_obj["invoice_settings"]["default_payment_method"]
        if pm_id:
            self._get("payment_method", pm_id, param="default_payment_method")
        behavior = params.get("payment_behavior") or "allow_incomplete"
        attempt = bool(pm_id) and behavior != "default_incomplete"
        if behavior == "error_if_incomplete" and not attempt:
            raise StripeFault(
                402,
                "This customer has no attached payment source or default payment method.",
                type="card_error",
                code="resource_missing",
            )
        paid = attempt and not self._take_decline()
        if behavior == "error_if_incomplete" and not paid:
            raise StripeFault(
                402, "Your card was declined.", type="card_error", code="card_declined", decline_code="generic_decline"
            )
        result = self._start_subscription(
            customer_obj, lines, metadata=params.get("metadata") or {}, pm_id=pm_id, paid=paid, attempt=attempt
        )
        return self._respond(result.subscription, params)

    def api_subscription_retrieve(self, params, id):
        return self._respond(self._get("subscription", id), params)

    def api_subscription_list(self, params):
        status = params.get("status")

        def keep(o):
            if params.get("customer") and o["customer"] != params["customer"]:
                return False
            if params.get("price") and all(i["price"]["id"] != params["price"] for i in o["items"]["data"]):
                return False
            if status == "all":
                return True
            if status == "ended":
                return o["status"] in ENDED_SUBSCRIPTION_STATUSES
            if status:
                return o["status"] == status
            return o["status"] not in ENDED_SUBSCRIPTION_STATUSES

        return self._list("subscription", params, "/v1/subscriptions", keep)

    def api_subscription_search(self, params):
        return self._search("subscription", params, "/v1/subscriptions/search")

    def api_subscription_item_retrieve(self, params, id):
        return self._respond(self._item(id), params)

    def api_subscription_item_list(self, params):
        sub = self._get("subscription", params["subscription"], param="subscription")
        items = list(reversed(self._render(sub)["items"]["data"]))
        return self._page(items, params, "/v1/subscription_items", "subscription_item")

    _CANCELED_MODIFIABLE = {"cancellation_details", "metadata", "expand"}

    def api_subscription_modify(self, params, id):
        sub = self._get("subscription", id)
        if sub["status"] in ENDED_SUBSCRIPTION_STATUSES and set(params) - self._CANCELED_MODIFIABLE:
            raise invalid(
                sorted(set(params) - self._CANCELED_MODIFIABLE)[0],
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if "cancel_at" in params and "cancel_at_period_end" in params:
            raise invalid("cancel_at", "You may only specify one of these parameters: cancel_at, cancel_at_period_end.")
        payment_behavior = params.get("payment_behavior") or "allow_incomplete"
        if payment_behavior == "pending_if_incomplete":
            self._check_pending_update_params(params)
        before = self._render(sub)
        snapshot = (copy.deepcopy(sub), copy.deepcopy(self._pending_prorations.get(id)))
        behavior = params.get("proration_behavior") or "create_prorations"
        proration_date = self._proration_date(sub, params.get("proration_date"), "proration_date")
        changes = self._apply_item_changes(sub, params.get("items") or [], "items") if params.get("items") else []
        self._apply_subscription_fields(sub, params)
        result = Lifecycle(subscription=sub)
        if changes:
            self._bill_changes(sub, changes, behavior, proration_date, result)
        if result.invoice is not None and result.invoice["status"] == "open":  # the payment was declined
            sub = self._payment_incomplete(sub, snapshot, payment_behavior, result.invoice)
        self._emit_updated("customer.subscription.updated", sub, before, result)
        return self._respond(sub, params)

    # Stripe's "pending updates" reference: what a pending_if_incomplete update may change.
    _PENDING_UPDATE_PARAMS = {
        "add_invoice_items",
        "billing_cycle_anchor",
        "expand",
        "items",
        "off_session",
        "payment_behavior",
        "proration_behavior",
        "proration_date",
        "trial_end",
        "trial_from_plan",
    }
    _PENDING_UPDATE_ITEM_PARAMS = {"id", "deleted", "price", "price_data", "quantity"}

    def _check_pending_update_params(self, params: dict) -> None:
        refused = sorted(set(params) - self._PENDING_UPDATE_PARAMS)
        for index, item in enumerate(params.get("items") or []):
            refused += [f"items[{index}][{key}]" for key in sorted(set(item) - self._PENDING_UPDATE_ITEM_PARAMS)]
        if refused:
            raise invalid(
                refused[0],
                "The following parameters are not supported when `payment_behavior` is `pending_if_incomplete`: "
                + ", ".join(refused)
                + ".",
            )

    def _payment_incomplete(self, sub: dict, snapshot: tuple, payment_behavior: str, invoice_obj: dict) -> dict:
        """An update's invoice was declined: what Stripe does depends on ``payment_behavior``."""
        if payment_behavior not in ("error_if_incomplete", "pending_if_incomplete"):
            sub["status"] = "past_due"
            return sub
        updated_items = self._render(sub)["items"]["data"]
        original, pending = snapshot
        self.store["subscription"][sub["id"]] = original
        if pending is None:
            self._pending_prorations.pop(sub["id"], None)
        else:
            self._pending_prorations[sub["id"]] = pending
        if payment_behavior == "error_if_incomplete":
            now = self.now()
            invoice_obj.update(status="void", amount_remaining=0, next_payment_attempt=None)
            invoice_obj["status_transitions"]["voided_at"] = now
            raise StripeFault(
                402,
                "Your card was declined.",
                type="card_error",
                code="card_declined",
                decline_code="generic_decline",
            )
        update = objects.fixture("subscription")["pending_update"]
        update.update(
            billing_cycle_anchor=None,
            discount=None,
            discounts=None,
            expires_at=self.now() + 23 * 3600,
            subscription_items=updated_items,
            trial_end=None,
            trial_from_plan=None,
            metadata=None,
        )
        original.update(pending_update=update, latest_invoice=invoice_obj["id"])
        return original

    def _apply_subscription_fields(self, sub: dict, params: dict) -> None:
        if "metadata" in params:
            sub["metadata"] = _merge_metadata(sub["metadata"], params["metadata"])
        for key in ("description", "days_until_due", "collection_method"):
            if key in params:
                sub[key] = params[key] if params[key] != "" else None
        if params.get("default_payment_method"):
            pm = self._get("payment_method", params["default_payment_method"], param="default_payment_method")
            sub["default_payment_method"] = pm["id"]
        if "cancellation_details" in params and params["cancellation_details"] != "":
            for key in ("comment", "feedback"):
                if key in params["cancellation_details"]:
                    sub["cancellation_details"][key] = params["cancellation_details"][key] or None
        if "pause_collection" in params:
            sub["pause_collection"] = params["pause_collection"] or None
        if "cancel_at_period_end" in params and params["cancel_at_period_end"] != "":
            if params["cancel_at_period_end"]:
                sub.update(cancel_at_period_end=True, cancel_at=self._period(sub)[1], canceled_at=self.now())
            else:
                sub.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
        if "cancel_at" in params:
            value = params["cancel_at"]
            if value in ("", None):
                sub.update(cancel_at=None, canceled_at=None, cancel_at_period_end=False)
            else:
                at = self._period(sub)[1] if isinstance(value, str) else value
                if at <= self.now():
                    raise invalid("cancel_at", "cancel_at must be in the future.")
                sub.update(cancel_at=at, canceled_at=self.now(), cancel_at_period_end=at == self._period(sub)[1])

    def _period(self, sub: dict) -> tuple[int, int]:
        items = sub["items"]["data"]
        return min(i["current_period_start"] for i in items), max(i["current_period_end"] for i in items)

    def _proration_date(self, sub: dict, value, param: str) -> int:
        if value in (None, ""):
            return self.now()
        start, end = self._period(sub)
        if not start <= value <= end:
            raise invalid(
                param, f"{param} must be within the subscription's current billing period ({start} to {end})."
            )
        return value

    def _apply_item_changes(self, sub: dict, specs: list, prefix: str) -> list[tuple]:
        """Apply ``items[...]`` to ``sub``; returns (item, old price, old qty, new price, new qty) per change."""
        changes = []
        items = sub["items"]["data"]
        period = self._period(sub)
        for index, spec in enumerate(specs):
            param = f"{prefix}[{index}]"
            new_price = None
            price_id = spec.get("price") or spec.get("plan")
            if price_id:
                new_price = self._price_for(price_id, f"{param}[price]", recurring=True)
            elif spec.get("price_data"):
                new_price = self._inline_price(spec["price_data"], f"{param}[price_data]", recurring=True)
            if new_price and new_price["currency"] != sub["currency"]:
                raise invalid(
                    f"{param}[price]",
                    f"The price's currency ({new_price['currency']}) must match the subscription's currency "
                    f"({sub['currency']}).",
                )
            quantity = spec.get("quantity")
            if isinstance(quantity, int) and quantity < 0:
                raise invalid(f"{param}[quantity]", "This value must be greater than or equal to 0.")
            if spec.get("id"):
                item = next((i for i in items if i["id"] == spec["id"]), None)
                if item is None:
                    raise no_such("subscription_item", spec["id"], param=f"{param}[id]", status=400)
                old_price, old_quantity = item["price"], item["quantity"]
                if spec.get("deleted"):
                    items.remove(item)
                    changes.append((item, old_price, old_quantity, None, 0))
                    continue
                item["price"] = copy.deepcopy(new_price or old_price)
                item["plan"] = objects.plan_from_price(item["price"])
                item["quantity"] = old_quantity if quantity in (None, "") else quantity
                if "metadata" in spec:
                    item["metadata"] = _merge_metadata(item["metadata"], spec["metadata"], f"{param}[metadata]")
                if item["price"]["id"] != old_price["id"] or item["quantity"] != old_quantity:
                    changes.append((item, old_price, old_quantity, item["price"], item["quantity"]))
                continue
            if new_price is None:
                raise missing_parameter(f"{param}[price]")
            if any(i["price"]["id"] == new_price["id"] for i in items):
                raise invalid(f"{param}[price]", "A subscription cannot have multiple items with the same price.")
            item = objects.subscription_item(
                objects.new_id("subscription_item"),
                self.now(),
                subscription_id=sub["id"],
                price_obj=new_price,
                quantity=1 if quantity in (None, "") else quantity,
                period=period,
            )
            items.append(item)
            changes.append((item, None, 0, item["price"], item["quantity"]))
        if not items:
            raise invalid(prefix, "A subscription must have at least one active item.")
        intervals = {(i["price"]["recurring"]["interval"], i["price"]["recurring"]["interval_count"]) for i in items}
        if len(intervals) > 1:
            raise invalid(
                prefix,
                "Currency and interval fields must match across all plans on this subscription. "
                "Found mismatch in interval field.",
            )
        return changes

    def _proration_lines(self, sub: dict, changes: list, when: int) -> list[dict]:
        lines = []
        stamp = time.strftime("%d %b %Y", time.gmtime(when))
        for item, old_price, old_quantity, new_price, new_quantity in changes:
            start, end = item["current_period_start"], item["current_period_end"]
            if not start <= when < end:
                continue
            share = (end - when) / (end - start)
            for price_obj, quantity, sign, words in (
                (old_price, old_quantity, -1, "Unused time on"),
                (new_price, new_quantity, 1, "Remaining time on"),
            ):
                if price_obj is None or quantity == 0:
                    continue
                amount = sign * round((price_obj["unit_amount"] or 0) * quantity * share)
                lines.append(
                    objects.invoice_line(
                        objects.new_id("line_item"),
                        invoice_id=None,
                        amount=amount,
                        currency=price_obj["currency"],
                        description=f"{words} {quantity} × {self._product_name(price_obj)} after {stamp}",
                        period=(when, end),
                        quantity=quantity,
                        price_obj=price_obj,
                        subscription_id=sub["id"],
                        subscription_item_id=item["id"],
                        proration=True,
                    )
                )
        return lines

    def _period_lines(self, sub: dict, period: tuple[int, int], items: list | None = None) -> list[dict]:
        lines = []
        for item in items if items is not None else sub["items"]["data"]:
            price_obj = item["price"]
            lines.append(
                objects.invoice_line(
                    objects.new_id("line_item"),
                    invoice_id=None,
                    amount=(price_obj["unit_amount"] or 0) * item["quantity"],
                    currency=price_obj["currency"],
                    description=f"{item['quantity']} × {self._price_label(price_obj)}",
                    period=period,
                    quantity=item["quantity"],
                    price_obj=price_obj,
                    subscription_id=sub["id"],
                    subscription_item_id=item["id"],
                    metadata=copy.deepcopy(sub["metadata"]),
                )
            )
        return lines

    def _bill_changes(self, sub: dict, changes: list, behavior: str, when: int, result: Lifecycle) -> None:
        old_intervals = {
            (old["recurring"]["interval"], old["recurring"]["interval_count"]) for _, old, _, _, _ in changes if old
        }
        current = sub["items"]["data"][0]["price"]["recurring"]
        interval_changed = bool(old_intervals) and (current["interval"], current["interval_count"]) not in old_intervals
        prorations = [] if behavior == "none" else self._proration_lines(sub, changes, when)
        if interval_changed:
            prorations = [line for line in prorations if line["amount"] < 0]  # the new price bills a whole period
            # Stripe resets the billing cycle and invoices at once when the interval changes.
            now = self.now()
            period = (now, objects.add_interval(now, current["interval"], current["interval_count"]))
            for item in sub["items"]["data"]:
                item["current_period_start"], item["current_period_end"] = period
            sub["billing_cycle_anchor"] = now
            lines = self._pending(sub) + prorations + self._period_lines(sub, period)
            self._invoice_subscription(sub, lines, "subscription_update", (now, now), result, paid=True)
        elif behavior == "always_invoice" and prorations:
            lines = self._pending(sub) + prorations
            self._invoice_subscription(sub, lines, "subscription_update", (when, when), result, paid=True)
        elif prorations:
            self._pending_prorations.setdefault(sub["id"], []).extend(prorations)

    def _pending(self, sub: dict) -> list[dict]:
        return self._pending_prorations.pop(sub["id"], [])

    def api_subscription_cancel(self, params, id):
        sub = self._get("subscription", id)
        if sub["status"] in ENDED_SUBSCRIPTION_STATUSES:
            raise invalid("id", "This subscription has already been canceled.")
        details = params.get("cancellation_details") or {}
        for key in ("comment", "feedback"):
            if key in details:
                sub["cancellation_details"][key] = details[key] or None
        result = Lifecycle(subscription=sub)
        if params.get("prorate"):
            now = self.now()
            credit = self._proration_lines(
                sub, [(i, i["price"], i["quantity"], None, 0) for i in sub["items"]["data"]], now
            )
            self._pending_prorations.setdefault(sub["id"], []).extend(credit)
        if params.get("invoice_now"):
            lines = self._pending(sub)
            if lines:
                self._invoice_subscription(
                    sub, lines, "subscription_update", (self.now(), self.now()), result, paid=True
                )
        self._end_subscription(sub, reason="cancellation_requested", result=result)
        return self._respond(sub, params)

    # --- invoices ----------------------------------------------------------------------------------------------------

    def api_invoice_retrieve(self, params, id):
        return self._respond(self._get("invoice", id), params)

    def api_invoice_list(self, params):
        def keep(o):
            parent_sub = ((o.get("parent") or {}).get("subscription_details") or {}).get("subscription")
            if params.get("subscription") and parent_sub != params["subscription"]:
                return False
            for key in ("customer", "status", "collection_method"):
                if params.get(key) and o[key] != params[key]:
                    return False
            return True

        return self._list("invoice", params, "/v1/invoices", keep)

    def api_invoice_search(self, params):
        return self._search("invoice", params, "/v1/invoices/search")

    def api_invoice_lines(self, params, id):
        invoice_obj = self._get("invoice", id)
        lines = list(invoice_obj["lines"]["data"])
        page = self._page(lines, params, f"/v1/invoices/{id}/lines", "line_item")
        return page

    def api_invoice_pay(self, params, id):
        invoice_obj = self._get("invoice", id)
        if invoice_obj["status"] != "open":
            raise invalid("invoice", f"Invoice is already {invoice_obj['status']}.", code="invoice_not_open")
        self._pay_open_invoice(invoice_obj, Lifecycle())
        return self._respond(invoice_obj, params)

    def api_invoice_create_preview(self, params):
        customer_id, sub_id = params.get("customer"), params.get("subscription")
        details = params.get("subscription_details") or {}
        if not customer_id and not sub_id:
            raise missing_parameter("customer")
        sub = self._get("subscription", sub_id, param="subscription") if sub_id else None
        if sub and customer_id and sub["customer"] != customer_id:
            raise invalid("subscription", f"The subscription {sub_id} does not belong to the customer {customer_id}.")
        customer_obj = self._get("customer", customer_id or sub["customer"], param="customer")
        if sub is None:
            return self._preview_new_subscription(customer_obj, details)
        if sub["status"] in ENDED_SUBSCRIPTION_STATUSES:
            raise invalid(
                "subscription", f"No upcoming invoices for customer: {customer_obj['id']}", code="invoice_upcoming_none"
            )
        draft = copy.deepcopy(sub)
        behavior = details.get("proration_behavior") or "create_prorations"
        when = self._proration_date(draft, details.get("proration_date"), "subscription_details[proration_date]")
        changes = self._apply_item_changes(draft, details.get("items") or [], "subscription_details[items]")
        prorations = [] if behavior == "none" else self._proration_lines(draft, changes, when)
        pending = copy.deepcopy(self._pending_prorations.get(sub["id"], []))
        start, end = self._period(draft)
        if behavior == "always_invoice" and prorations:
            lines, reason, period = pending + prorations, "subscription_update", (when, when)
        else:
            ending = details.get("cancel_at_period_end", draft["cancel_at_period_end"])
            next_period = (end, objects.add_interval(end, *_interval(draft)))
            lines = pending + prorations + ([] if ending else self._period_lines(draft, next_period))
            reason, period = "upcoming", (start, end)
        return self._preview_invoice(customer_obj, draft, lines, reason, period)

    def _preview_new_subscription(self, customer_obj: dict, details: dict) -> dict:
        specs = details.get("items") or []
        if not specs:
            raise invalid(
                "customer", f"No upcoming invoices for customer: {customer_obj['id']}", code="invoice_upcoming_none"
            )
        prices = []
        for index, spec in enumerate(specs):
            param = f"subscription_details[items][{index}][price]"
            if not spec.get("price"):
                raise missing_parameter(param)
            prices.append((self._price_for(spec["price"], param, recurring=True), spec.get("quantity") or 1))
        now = self.now()
        draft = objects.subscription(
            "sub_preview", now, customer_id=customer_obj["id"], currency=prices[0][0]["currency"]
        )
        period = (now, objects.add_interval(now, prices[0][0]["recurring"]["interval"]))
        draft["items"]["data"] = [
            objects.subscription_item(
                "si_preview", now, subscription_id="sub_preview", price_obj=p, quantity=q, period=period
            )
            for p, q in prices
        ]
        draft["metadata"] = details.get("metadata") or {}
        invoice_obj = self._preview_invoice(
            customer_obj, draft, self._period_lines(draft, period), "subscription_create", (now, now)
        )
        invoice_obj["parent"] = None
        for line in invoice_obj["lines"]["data"]:
            line["parent"]["subscription_item_details"].update(subscription=None, subscription_item=None)
            line["subscription"] = None
        return invoice_obj

    def _preview_invoice(self, customer_obj, sub, lines, reason, period) -> dict:
        object_id = "upcoming_in_1" + objects.random_token(23)
        invoice_obj = self._build_invoice(object_id, customer_obj, sub, lines, reason, period)
        invoice_obj["lines"]["url"] = "/v1/invoices/upcoming/lines"
        for line in invoice_obj["lines"]["data"]:
            line["invoice"] = None
        invoice_obj.update(number=None, webhooks_delivered_at=None, auto_advance=False)
        return invoice_obj

    def _build_invoice(self, object_id, customer_obj, sub, lines, reason, period) -> dict:
        invoice_obj = objects.invoice(object_id, self.now(), customer_obj=customer_obj, currency=sub["currency"])
        for line in lines:
            line["invoice"] = object_id
        total = sum(line["amount"] for line in lines)
        invoice_obj.update(
            billing_reason=reason,
            period_start=period[0],
            period_end=period[1],
            subtotal=total,
            subtotal_excluding_tax=total,
            total=total,
            total_excluding_tax=total,
            amount_due=max(total, 0),
            amount_paid=0,
            amount_remaining=max(total, 0),
            starting_balance=0,
            attempt_count=0,
            attempted=False,
            auto_advance=True,
            default_payment_method=None,
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": copy.deepcopy(sub["metadata"]), "subscription": sub["id"]},
            },
        )
        invoice_obj["lines"]["data"] = lines
        return invoice_obj

    def _invoice_subscription(
        self, sub, lines, reason, period, result: Lifecycle, *, paid: bool, attempt: bool = True
    ) -> dict:
        """Create, finalize and attempt payment of a subscription invoice; events go to ``result``."""
        customer_obj = self.store["customer"][sub["customer"]]
        invoice_obj = self._build_invoice(objects.new_id("invoice"), customer_obj, sub, lines, reason, period)
        self._put(invoice_obj)
        result.events.append(self._emit("invoice.created", invoice_obj))
        now = self.now()
        number = self._invoice_numbers.get(customer_obj["id"], 0) + 1
        self._invoice_numbers[customer_obj["id"]] = number
        token = objects.random_token(40)
        invoice_obj.update(
            status="open",
            number=f"{customer_obj['invoice_prefix']}-{number:04d}",
            effective_at=now,
            ending_balance=0,
            hosted_invoice_url=f"https://invoice.stripe.com/i/{self.account_id}/test_{token}?s=ap",
            invoice_pdf=f"https://pay.stripe.com/invoice/{self.account_id}/test_{token}/pdf?s=ap",
        )
        invoice_obj["status_transitions"]["finalized_at"] = now
        customer_obj["next_invoice_sequence"] = number + 1
        result.events.append(self._emit("invoice.finalized", invoice_obj))
        sub["latest_invoice"] = invoice_obj["id"]
        result.invoice = invoice_obj
        if invoice_obj["amount_due"] == 0:
            self._mark_paid(invoice_obj, now)
            result.events.append(self._emit("invoice.paid", invoice_obj))
            result.events.append(self._emit("invoice.payment_succeeded", invoice_obj))
        elif attempt:
            self._attempt_payment(invoice_obj, sub, result, paid=paid)
        else:  # default_incomplete: the customer confirms the PaymentIntent later
            pi = self._payment_intent_for(invoice_obj)
            pi["description"] = _payment_description(reason)
            self._payment_record(invoice_obj, pi, paid=False)
            result.payment_intent = pi
        return invoice_obj

    def _mark_paid(self, invoice_obj: dict, now: int) -> None:
        invoice_obj.update(
            status="paid", amount_paid=invoice_obj["amount_due"], amount_remaining=0, next_payment_attempt=None
        )
        invoice_obj["status_transitions"]["paid_at"] = now

    def _attempt_payment(self, invoice_obj: dict, sub: dict, result: Lifecycle, *, paid: bool) -> None:
        now = self.now()
        if paid and self._take_decline():
            paid = False
        pm_id = sub.get("default_payment_method")
        customer_id = invoice_obj["customer"]
        pi = self._payment_intent_for(invoice_obj)
        pi.update(payment_method=pm_id, description=_payment_description(invoice_obj["billing_reason"]))
        ch = objects.charge(
            objects.new_id("charge"),
            now,
            amount=invoice_obj["amount_due"],
            currency=invoice_obj["currency"],
            customer_id=customer_id,
            payment_intent_id=pi["id"],
        )
        ch.update(payment_method=pm_id, description=pi["description"])
        ch["billing_details"]["email"] = invoice_obj["customer_email"]
        invoice_obj["attempted"] = True
        invoice_obj["attempt_count"] += 1
        pi["latest_charge"] = ch["id"]
        if paid:
            pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
            self._put(ch)
            self._mark_paid(invoice_obj, now)
            self._payment_record(invoice_obj, pi, paid=True)
            result.events.extend(
                [
                    self._emit("charge.succeeded", ch),
                    self._emit("payment_intent.succeeded", pi),
                    self._emit("invoice.paid", invoice_obj),
                    self._emit("invoice.payment_succeeded", invoice_obj),
                ]
            )
        else:
            ch.update(
                status="failed",
                paid=False,
                captured=False,
                amount_captured=0,
                failure_code="card_declined",
                failure_message="Your card was declined.",
            )
            ch["outcome"].update(
                network_status="declined_by_network",
                reason="generic_decline",
                risk_level="normal",
                seller_message="The bank did not return any further details with this decline.",
                type="issuer_declined",
            )
            self._put(ch)
            pi.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "charge": ch["id"],
                    "payment_method": self._render(self.store["payment_method"][pm_id]) if pm_id else None,
                },
            )
            retry = None if invoice_obj["billing_reason"] == "subscription_create" else now + 3 * 24 * 3600
            invoice_obj["next_payment_attempt"] = retry
            self._payment_record(invoice_obj, pi, paid=False)
            result.events.extend(
                [
                    self._emit("charge.failed", ch),
                    self._emit("payment_intent.payment_failed", pi),
                    self._emit("invoice.payment_failed", invoice_obj),
                ]
            )
        result.payment_intent, result.charge = pi, ch

    def _payment_intent_for(self, invoice_obj: dict) -> dict:
        for record in self.store["invoice_payment"].values():
            if record["invoice"] == invoice_obj["id"]:
                return self.store["payment_intent"][record["payment"]["payment_intent"]]
        pi = objects.payment_intent(
            objects.new_id("payment_intent"),
            self.now(),
            amount=invoice_obj["amount_due"],
            currency=invoice_obj["currency"],
            customer_id=invoice_obj["customer"],
        )
        return self._put(pi)

    def _payment_record(self, invoice_obj: dict, pi: dict, *, paid: bool) -> None:
        for record in self.store["invoice_payment"].values():
            if record["invoice"] == invoice_obj["id"]:
                record.update(
                    status="paid" if paid else "open",
                    amount_paid=invoice_obj["amount_paid"] if paid else None,
                )
                record["status_transitions"]["paid_at"] = self.now() if paid else None
                return
        self._put(
            objects.invoice_payment(
                objects.new_id("invoice_payment"),
                self.now(),
                invoice_obj=invoice_obj,
                payment_intent_id=pi["id"],
                paid=paid,
            )
        )

    def _pay_open_invoice(self, invoice_obj: dict, result: Lifecycle) -> None:
        sub_id = ((invoice_obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        sub = self.store["subscription"].get(sub_id)
        before = self._render(sub) if sub else None
        self._attempt_payment(invoice_obj, sub or {"default_payment_method": None}, result, paid=True)
        result.invoice = invoice_obj
        if sub is None or invoice_obj["status"] != "paid" or sub.get("latest_invoice") != invoice_obj["id"]:
            return
        result.subscription = sub
        if sub.get("pending_update"):
            self._apply_pending_update(sub)
        if sub["status"] in ("past_due", "unpaid", "incomplete"):
            sub["status"] = "active"
        self._emit_updated("customer.subscription.updated", sub, before, result)

    @staticmethod
    def _apply_pending_update(sub: dict) -> None:
        sub["items"]["data"] = sub["pending_update"]["subscription_items"]
        sub["pending_update"] = None

    def api_invoice_payment_list(self, params):
        payment = params.get("payment") or {}

        def keep(o):
            if params.get("invoice") and o["invoice"] != params["invoice"]:
                return False
            if payment.get("payment_intent") and o["payment"].get("payment_intent") != payment["payment_intent"]:
                return False
            return not params.get("status") or o["status"] == params["status"]

        return self._list("invoice_payment", params, "/v1/invoice_payments", keep)

    def api_invoice_payment_retrieve(self, params, id):
        return self._respond(self._get("invoice_payment", id), params)

    # --- payments: intents, charges, methods, refunds -------------------------------------------------------------

    def api_payment_intent_retrieve(self, params, id):
        return self._respond(self._get("payment_intent", id), params)

    def api_payment_intent_list(self, params):
        customer = params.get("customer")
        return self._list("payment_intent", params, "/v1/payment_intents", lambda o: customer in (None, o["customer"]))

    def api_charge_retrieve(self, params, id):
        return self._respond(self._get("charge", id), params)

    def api_charge_list(self, params):
        def keep(o):
            return all(not params.get(k) or o[k] == params[k] for k in ("customer", "payment_intent"))

        return self._list("charge", params, "/v1/charges", keep)

    def api_payment_method_retrieve(self, params, id):
        return self._respond(self._get("payment_method", id), params)

    def _attach_payment_method(self, pm_id: str, customer_obj: dict, *, param: str) -> dict:
        pm = self._get("payment_method", pm_id, param=param)
        pm["customer"] = customer_obj["id"]
        return pm

    def api_refund_create(self, params):
        charge_id, pi_id = params.get("charge"), params.get("payment_intent")
        if not charge_id and not pi_id:
            raise StripeFault(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        if pi_id:
            pi = self._get("payment_intent", pi_id, param="payment_intent")
            if not pi.get("latest_charge") or pi["status"] != "succeeded":
                raise invalid(
                    "payment_intent",
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                )
            if charge_id and charge_id != pi["latest_charge"]:
                raise invalid("charge", "The charge and payment_intent parameters do not match.")
            charge_id = pi["latest_charge"]
        ch = self._get("charge", charge_id, param="charge")
        if ch["status"] != "succeeded":
            raise invalid(
                "charge", f"Charge {ch['id']} has not succeeded and cannot be refunded.", code="charge_not_refundable"
            )
        remaining = ch["amount_captured"] - ch["amount_refunded"]
        if remaining <= 0:
            raise invalid("charge", f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded")
        amount = params.get("amount")
        amount = remaining if amount in (None, "") else amount
        if amount < 1:
            raise invalid("amount", "This value must be greater than or equal to 1.")
        if amount > remaining:
            raise invalid(
                "amount",
                f"Refund amount ({objects.format_amount(amount, ch['currency'])}) is greater than unrefunded amount on "
                f"charge ({objects.format_amount(remaining, ch['currency'])})",
                code="amount_too_large",
            )
        refund_obj = objects.refund(objects.new_id("refund"), self.now(), charge_obj=ch, amount=amount)
        refund_obj.update(
            reason=params.get("reason") or None, metadata=_merge_metadata({}, params.get("metadata") or {})
        )
        self._put(refund_obj)
        before = self._render(ch)
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"]
        ch["refunds"]["data"].insert(0, copy.deepcopy(refund_obj))
        self._emit("refund.created", refund_obj)
        self._emit_updated("charge.refunded", ch, before)
        return self._respond(refund_obj, params)

    def api_refund_retrieve(self, params, id):
        return self._respond(self._get("refund", id), params)

    def api_refund_list(self, params):
        def keep(o):
            return all(not params.get(k) or o[k] == params[k] for k in ("charge", "payment_intent"))

        return self._list("refund", params, "/v1/refunds", keep)

    # --- billing portal, webhook endpoints, events -----------------------------------------------------------------

    def api_portal_session_create(self, params):
        if not params.get("customer") and not params.get("customer_account"):
            raise missing_parameter("customer")
        customer_obj = self._get("customer", params.get("customer"), param="customer")
        if params.get("configuration") and not params["configuration"].startswith("bpc_"):
            raise no_such("billing_portal.configuration", params["configuration"], param="configuration", status=400)
        obj = objects.portal_session(
            objects.new_id("billing_portal.session"),
            self.now(),
            customer_id=customer_obj["id"],
            return_url=params.get("return_url"),
        )
        if params.get("configuration"):
            obj["configuration"] = params["configuration"]
        obj["locale"] = params.get("locale") or None
        flow = params.get("flow_data")
        if flow:
            for key in ("subscription_cancel", "subscription_update", "subscription_update_confirm"):
                sub_id = (flow.get(key) or {}).get("subscription")
                if sub_id:
                    self._get("subscription", sub_id, param=f"flow_data[{key}][subscription]")
            obj["flow"] = {
                "type": flow["type"],
                "after_completion": {"type": "portal_homepage", "hosted_confirmation": None, "redirect": None}
                | (flow.get("after_completion") or {}),
                "subscription_cancel": flow.get("subscription_cancel"),
                "subscription_update": flow.get("subscription_update"),
                "subscription_update_confirm": flow.get("subscription_update_confirm"),
            }
        self._put(obj)
        return self._respond(obj, params)

    def api_webhook_endpoint_create(self, params):
        url = params["url"]
        if not re.match(r"^https?://[^\s/]+", url):
            raise invalid("url", f"Invalid URL: {url}")
        version = params.get("api_version")
        if version and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", version):
            raise invalid("api_version", f"Invalid API version: {version}")
        obj = objects.webhook_endpoint(
            objects.new_id("webhook_endpoint"),
            self.now(),
            url=url,
            enabled_events=list(params["enabled_events"]),
            api_version=version or None,
        )
        obj["description"] = params.get("description") or None
        obj["metadata"] = _merge_metadata({}, params.get("metadata") or {})
        self._put(obj)
        secret = "whsec_" + objects.random_token(32)
        self._webhook_secrets[obj["id"]] = secret
        out = self._respond(obj, params)
        out["secret"] = secret  # only the creating response carries the secret
        return out

    def api_webhook_endpoint_retrieve(self, params, id):
        return self._respond(self._get("webhook_endpoint", id), params)

    def api_webhook_endpoint_list(self, params):
        return self._list("webhook_endpoint", params, "/v1/webhook_endpoints")

    def api_webhook_endpoint_modify(self, params, id):
        obj = self._get("webhook_endpoint", id)
        for key in ("url", "enabled_events", "description"):
            if key in params:
                obj[key] = params[key] or None
        if "disabled" in params and params["disabled"] != "":
            obj["status"] = "disabled" if params["disabled"] else "enabled"
        if "metadata" in params:
            obj["metadata"] = _merge_metadata(obj["metadata"], params["metadata"])
        return self._respond(obj, params)

    def api_webhook_endpoint_delete(self, params, id):
        self._get("webhook_endpoint", id)
        del self.store["webhook_endpoint"][id]
        self._webhook_secrets.pop(id, None)
        return objects.deleted("webhook_endpoint", id)

    def api_event_retrieve(self, params, id):
        return self._respond(self._get("event", id), params)

    def api_event_list(self, params):
        types = set(params.get("types") or []) | ({params["type"]} if params.get("type") else set())

        def keep(o):
            return not types or any(
                o["type"] == t or (t.endswith(".*") and o["type"].startswith(t[:-1])) for t in types
            )

        return self._list("event", params, "/v1/events", keep)

    # --- lifecycle helpers --------------------------------------------------------------------------------------------

    def _emit_updated(self, type: str, obj: dict, before: dict, result: Lifecycle | None = None) -> None:
        previous = _previous_attributes(before, self._render(obj))
        if previous:
            evt = self._emit(type, obj, previous)
            if result is not None:
                result.events.append(evt)

    def _start_subscription(
        self, customer_obj: dict, lines: list, *, metadata: dict, pm_id, paid: bool, attempt: bool = True
    ) -> Lifecycle:
        """A new subscription and its first invoice; ``paid`` is decided by the caller (declines included)."""
        now = self.now()
        first = lines[0][0]
        currency = first["currency"]
        for price_obj, _ in lines:
            if price_obj["currency"] != currency:
                raise invalid("items", "All prices on a subscription must use the same currency.")
        recurring = first["recurring"]
        period = (now, objects.add_interval(now, recurring["interval"], recurring["interval_count"]))
        sub = objects.subscription(
            objects.new_id("subscription"), now, customer_id=customer_obj["id"], currency=currency
        )
        sub["items"]["data"] = [
            objects.subscription_item(
                objects.new_id("subscription_item"),
                now,
                subscription_id=sub["id"],
                price_obj=price_obj,
                quantity=quantity,
                period=period,
            )
            for price_obj, quantity in lines
        ]
        sub.update(
            metadata=_merge_metadata({}, metadata, "subscription_data[metadata]"),
            default_payment_method=pm_id,
            status="active" if paid else "incomplete",
        )
        if customer_obj["currency"] is None:
            customer_obj["currency"] = currency
        self._put(sub)
        result = Lifecycle(subscription=sub, customer=customer_obj)
        result.events.append(self._emit("customer.subscription.created", sub))
        declines, self._declines = self._declines, 0  # already decided: keep them for later attempts
        try:
            lines = self._period_lines(sub, period)
            self._invoice_subscription(
                sub, lines, "subscription_create", (now, now), result, paid=paid, attempt=attempt
            )
        finally:
            self._declines = declines
        return result

    def _new_payment_method(self, customer_obj: dict) -> dict:
        pm = objects.payment_method(
            objects.new_id("payment_method"), self.now(), customer_id=customer_obj["id"], email=customer_obj["email"]
        )
        return self._put(pm)

    def complete_checkout(
        self, session_id: str, *, paid: bool = True, email: str = "customer@example.com", name: str | None = None
    ) -> Lifecycle:
        """The customer finished Checkout: subscription (or payment), first invoice, session complete.

        With ``paid=False`` the session still completes but the subscription is ``incomplete`` and its
        first invoice ``open`` (an asynchronous payment method that has not settled, or a decline).
        """
        with self._lock:
            session = self.store["checkout.session"].get(session_id)
            if session is None:
                raise KeyError(session_id)
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            result = Lifecycle(session=session)
            customer_obj = self.store["customer"].get(session["customer"] or "")
            if customer_obj is None:
                customer_obj = objects.customer(
                    objects.new_id("customer"), self.now(), prefix=objects.random_token(8).upper()
                )
                customer_obj.update(email=session["customer_email"] or email, name=name)
                self._put(customer_obj)
                result.events.append(self._emit("customer.created", customer_obj))
            result.customer = customer_obj
            pm = self._new_payment_method(customer_obj)
            result.events.append(self._emit("payment_method.attached", pm))
            items = self._session_items[session_id]
            paid = paid and not self._take_decline()
            if session["mode"] == "subscription":
                lines = [(self.store["price"][i["price"]["id"]], i["quantity"]) for i in items]
                metadata = self._session_subscription_data[session_id].get("metadata") or {}
                started = self._start_subscription(customer_obj, lines, metadata=metadata, pm_id=pm["id"], paid=paid)
                result.events.extend(started.events)
                result.subscription, result.invoice = started.subscription, started.invoice
                result.payment_intent, result.charge = started.payment_intent, started.charge
                session.update(subscription=started.subscription["id"], invoice=started.invoice["id"])
            elif session["mode"] == "payment":
                self._checkout_payment(session, customer_obj, pm, result, paid=paid)
            session.update(
                status="complete",
                payment_status="paid" if paid else "unpaid",
                customer=customer_obj["id"],
                customer_details={
                    "address": copy.deepcopy(customer_obj["address"]),
                    "email": customer_obj["email"],
                    "name": customer_obj["name"],
                    "phone": customer_obj["phone"],
                    "tax_exempt": "none",
                    "tax_ids": [],
                    "business_name": None,
                    "individual_name": None,
                },
            )
            result.events.append(self._emit("checkout.session.completed", session))
            # The session keeps the URL as given; only the redirect carries the session's id.
            landing = session["success_url"] or session.get("return_url")
            result.redirect_url = landing.replace(CHECKOUT_SESSION_ID, session_id) if landing else None
            return self._copies(result)

    def _checkout_payment(self, session, customer_obj, pm, result: Lifecycle, *, paid: bool) -> None:
        pi = objects.payment_intent(
            objects.new_id("payment_intent"),
            self.now(),
            amount=session["amount_total"],
            currency=session["currency"],
            customer_id=customer_obj["id"],
        )
        pi.update(payment_method=pm["id"], description=None)
        self._put(pi)
        ch = objects.charge(
            objects.new_id("charge"),
            self.now(),
            amount=pi["amount"],
            currency=pi["currency"],
            customer_id=customer_obj["id"],
            payment_intent_id=pi["id"],
        )
        ch.update(payment_method=pm["id"], description=None)
        if paid:
            pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch["id"])
            self._put(ch)
            result.events.append(self._emit("charge.succeeded", ch))
            result.events.append(self._emit("payment_intent.succeeded", pi))
        session["payment_intent"] = pi["id"]
        result.payment_intent = pi
        result.charge = ch if paid else None

    def expire_checkout(self, session_id: str) -> Lifecycle:
        with self._lock:
            session = self._expire_session(self.store["checkout.session"][session_id])
            return self._copies(Lifecycle(session=session, events=[copy.deepcopy(self.events[-1])]))

    def renew(self, subscription_id: str, *, paid: bool = True) -> Lifecycle:
        """The period ended: a new period on every item and a ``subscription_cycle`` invoice.

        Paid: the subscription is (or becomes) active. Unpaid: the invoice stays open with a failed
        attempt and a retry scheduled, the subscription turns ``past_due``.
        """
        with self._lock:
            sub = self.store["subscription"][subscription_id]
            if sub["status"] in ENDED_SUBSCRIPTION_STATUSES:
                raise ValueError(f"{subscription_id} is {sub['status']}")
            if sub["cancel_at_period_end"]:
                raise ValueError(f"{subscription_id} cancels at period end: call end() for what Stripe does then")
            before = self._render(sub)
            old_period = self._period(sub)
            new_period = (old_period[1], objects.add_interval(old_period[1], *_interval(sub)))
            for item in sub["items"]["data"]:
                item["current_period_start"], item["current_period_end"] = new_period
            result = Lifecycle(subscription=sub, customer=self.store["customer"][sub["customer"]])
            lines = self._pending(sub) + self._period_lines(sub, new_period)
            self._invoice_subscription(sub, lines, "subscription_cycle", old_period, result, paid=paid)
            sub["status"] = "active" if paid else "past_due"
            self._emit_updated("customer.subscription.updated", sub, before, result)
            return self._copies(result)

    def fail_payment(self, subscription_id: str) -> Lifecycle:
        """A payment fails: the renewal's (or, when one is already open, the next retry's).

        The first failure is a renewal with a declined card (new period, open invoice, ``past_due``);
        later calls fail the open invoice's next retry (``attempt_count`` grows).
        """
        with self._lock:
            sub = self.store["subscription"][subscription_id]
            open_invoice = self.store["invoice"].get(sub.get("latest_invoice") or "")
            if not open_invoice or open_invoice["status"] != "open":
                return self.renew(subscription_id, paid=False)
            result = Lifecycle(subscription=sub, customer=self.store["customer"][sub["customer"]])
            self._attempt_payment(open_invoice, sub, result, paid=False)
            result.invoice = open_invoice
            return self._copies(result)

    def pay_invoice(self, invoice_id: str) -> Lifecycle:
        """An open invoice gets paid (a retry succeeds, or the customer pays the hosted page)."""
        with self._lock:
            invoice_obj = self.store["invoice"][invoice_id]
            if invoice_obj["status"] != "open":
                raise ValueError(f"{invoice_id} is {invoice_obj['status']}, not open")
            result = Lifecycle()
            self._pay_open_invoice(invoice_obj, result)
            return self._copies(result)

    def end(self, subscription_id: str, *, reason: str | None = None) -> Lifecycle:
        """The subscription ends now (period over after a scheduled cancel, or unpaid after retries)."""
        with self._lock:
            sub = self.store["subscription"][subscription_id]
            if sub["status"] in ENDED_SUBSCRIPTION_STATUSES:
                raise ValueError(f"{subscription_id} is already {sub['status']}")
            if reason is None:
                reason = "payment_failed" if sub["status"] in ("past_due", "unpaid") else "cancellation_requested"
            result = Lifecycle(subscription=sub)
            self._end_subscription(sub, reason=reason, result=result)
            return self._copies(result)

    def _end_subscription(self, sub: dict, *, reason: str, result: Lifecycle | None = None) -> None:
        now = self.now()
        sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
        sub["cancellation_details"]["reason"] = reason
        evt = self._emit("customer.subscription.deleted", sub)
        if result is not None:
            result.events.append(evt)

    def _copies(self, result: Lifecycle) -> Lifecycle:
        """The result with every object rendered as the API shows it (the test owns these copies)."""
        for name in ("subscription", "invoice", "customer", "session", "payment_intent", "charge"):
            obj = getattr(result, name)
            if obj is not None:
                setattr(result, name, self._render(obj))
        return result


def _interval(sub: dict) -> tuple[str, int]:
    recurring = sub["items"]["data"][0]["price"]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def _payment_description(billing_reason: str) -> str:
    return {"subscription_create": "Subscription creation", "subscription_cycle": "Subscription update"}.get(
        billing_reason, "Subscription update"
    )
