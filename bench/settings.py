"""Settings for `make bench` only (bench/run.py): the production settings, plus what a loopback benchmark needs.

Everything is production (DEBUG=False, PostgreSQL, Redis, Argon2, the same middleware) except:
plain HTTP on 127.0.0.1 (no TLS redirect, no Secure cookies), API rate limits raised so the load
tool measures the code and not the 429 path, the bench-only URLconf (the baselines), and the
stripe SDK pointed at the loopback fake Stripe when BENCH_STRIPE_API_BASE is given. Never deployed.
"""

import os

import stripe

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR, PRODUCTION, TEMPLATES

if not PRODUCTION:
    raise RuntimeError("bench.settings measures the production settings: set DJANGO_ENV=production.")

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# Counted in Redis as in production (every /api/ request still pays for the counter), never reached.
API_RATE_LIMIT_DEFAULT = "1000000/s"
API_RATE_LIMITS = {}

# The loopback fake Stripe (tests/fake_stripe) answers dj-stripe's re-fetches during the webhook rows.
_fake_stripe = os.environ.get("BENCH_STRIPE_API_BASE", "")
if _fake_stripe:
    if not _fake_stripe.startswith("http://127.0.0.1:"):
        raise RuntimeError("BENCH_STRIPE_API_BASE must be a loopback fake Stripe (http://127.0.0.1:<port>).")
    stripe.api_base = _fake_stripe
    stripe.max_network_retries = 0
    stripe.enable_telemetry = False
