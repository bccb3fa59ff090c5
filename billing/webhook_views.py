"""dj-stripe's webhook view with three things in front of it.

1. The signature is checked before anything is written: a forged or stale delivery is a 400
   and leaves no row behind (dj-stripe alone would store the untrusted body first).
2. An event already processed is answered 200 at once: duplicates have one effect and cost
   one indexed read.
3. Deliveries about one Stripe customer are processed one at a time (billing.locks, the lock the
   portal's own changes take too), so dj-stripe's re-fetch and our compare-and-set see Stripe's
   states in order; what the re-fetch brings counts as read when the lock was taken (before it). When the
   lock is not free in time, or Stripe cannot be reached for the re-fetch, the answer is 503
   and Stripe delivers again later; dj-stripe has rolled the half-processed event back.

A genuine delivery while this server has no Stripe key (billing not configured) is a 503 too,
before dj-stripe writes anything: it could not re-fetch the event's objects, and Stripe keeps
retrying for days, long enough for the key to be configured.
"""

import json
import logging
import time
import traceback

import stripe
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from djstripe.exceptions import InvalidStripeAPIKey
from djstripe.models import Event, WebhookEndpoint
from djstripe.views import ProcessWebhookView

from billing import stripe_gateway as gateway
from billing.locks import LockBusy, customer_lock
from billing.webhooks import reading_stripe

logger = logging.getLogger("gatehouse.webhooks")


class StripeWebhookView(ProcessWebhookView):
    def post(self, request, uuid):
        started = time.monotonic()
        endpoint = get_object_or_404(WebhookEndpoint, djstripe_uuid=uuid)
        event = _verified_event(request, endpoint)
        if event is None:
            _log(None, "rejected", started, status=400)
            return HttpResponseBadRequest("Invalid signature.")
        if Event.objects.filter(id=event.get("id")).exists():
            _log(event, "duplicate", started, status=200)
            return HttpResponse("duplicate")
        if not gateway.is_configured():
            _log(event, "not_configured", started, status=503)
            return _retry_later("Billing is not configured on this server; deliver again later.")
        try:
            with customer_lock(_customer_of(event)), reading_stripe():
                response = super().post(request, uuid)
        except LockBusy:
            _log(event, "busy", started, status=503)
            return _retry_later("Another delivery for this customer is being processed.")
        except stripe.StripeError as error:
            # dj-stripe's re-fetch failed; it rolled the event back and kept the error on its log row.
            _log(event, "stripe_unavailable", started, status=503, error=type(error).__name__)
            return _retry_later("Stripe could not be reached; deliver again later.")
        except InvalidStripeAPIKey:
            # dj-stripe found no key for the event's mode (e.g. a live event on a test key).
            _log(event, "not_configured", started, status=503)
            return _retry_later("No Stripe key for this event's mode is configured; deliver again later.")
        except Exception as error:
            _log(event, "failed", started, status=500, error=type(error).__name__)
            raise
        _log(event, "processed", started, status=response.status_code)
        return response


def _verified_event(request, endpoint: WebhookEndpoint) -> dict | None:
    try:
        payload = request.body.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("stripe-signature", ""), endpoint.secret, endpoint.djstripe_tolerance
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        return None
    return event if isinstance(event, dict) and event.get("id") and "livemode" in event else None


def reprocess(trigger) -> None:
    """Run a stored delivery again (admin action): same lock, same dj-stripe processing and receivers.

    On failure the trigger keeps the new error and the exception propagates to the caller.
    """
    with customer_lock(_customer_of(trigger.json_body)), reading_stripe():
        try:
            with transaction.atomic():
                gateway.reprocess_webhook_trigger(trigger)
        except Exception as error:
            trigger.exception = str(error)[: type(trigger)._meta.get_field("exception").max_length]
            trigger.traceback = traceback.format_exc()
            trigger.save(update_fields=["exception", "traceback", "updated"])
            raise
        trigger.save()


def _customer_of(event: dict) -> str:
    obj = (event.get("data") or {}).get("object") or {}
    if obj.get("object") == "customer":
        return str(obj.get("id") or "")
    return str(gateway.stripe_id(obj.get("customer")) or obj.get("id") or "")


def _retry_later(message: str) -> HttpResponse:
    response = HttpResponse(message, status=503)
    response["Retry-After"] = "30"
    return response


def _log(event: dict | None, result: str, started: float, **extra) -> None:
    logger.info(
        "webhook",
        extra={
            "event": (event or {}).get("id"),
            "event_type": (event or {}).get("type"),
            "result": result,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            **extra,
        },
    )
