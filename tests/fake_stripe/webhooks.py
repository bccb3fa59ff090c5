"""Signed webhook deliveries, exactly as Stripe signs them.

Stripe sends ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``, the HMAC keyed with the
endpoint's whole ``whsec_...`` secret over ``f"{t}.{raw body}"``; receivers (stripe.Webhook,
dj-stripe) recompute it and refuse timestamps older than their tolerance (300 s by default).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` signed with ``secret``."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(event: dict) -> bytes:
    """An event's JSON body as Stripe sends it (pretty-printed, UTF-8)."""
    return json.dumps(event, indent=2).encode("utf-8")


def post_event(client, url: str, event: dict | bytes | str, secret: str, *, timestamp: int | None = None):
    """POST ``event`` to ``url`` through a Django test client with a valid ``Stripe-Signature``.

    ``event`` may be an event dict (serialised here) or the raw body to send. Returns the response.
    """
    body = event if isinstance(event, (bytes, str)) else event_payload(event)
    if isinstance(body, str):
        body = body.encode("utf-8")
    signature = sign_payload(body, secret, timestamp)
    return client.post(url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def post_events(client, url: str, events, secret: str) -> list:
    """Deliver several events in order (e.g. a lifecycle helper's ``.events``); returns the responses."""
    return [post_event(client, url, event, secret) for event in events]
