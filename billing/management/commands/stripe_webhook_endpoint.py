"""Register the webhook endpoint with Stripe and keep its signing secret, or store a secret you already have.

manage.py stripe_webhook_endpoint --base-url https://gatehouse.example.com
    creates the endpoint in Stripe (our events, our pinned API version) and stores its secret;
manage.py stripe_webhook_endpoint --secret whsec_... --stripe-id we_...
    stores the secret of an endpoint made in the Stripe dashboard;
manage.py stripe_webhook_endpoint --secret "$(stripe listen --print-secret)"
    stores the Stripe CLI's secret for local forwarding (no Stripe key needed);
manage.py stripe_webhook_endpoint --list
"""

import re
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from djstripe.models import WebhookEndpoint

from billing import stripe_gateway as gateway
from billing.exceptions import BillingError
from billing.webhooks import ENABLED_EVENTS

_OUR_PATH = re.compile(r"/stripe/webhook/(?P<uuid>[0-9a-f-]{36})/?$")


class Command(BaseCommand):
    help = "Register the Stripe webhook endpoint and store its signing secret (see the README, 'Stripe webhooks')."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=settings.SITE_URL, help="Public scheme and host (default SITE_URL).")
        parser.add_argument("--secret", help="A whsec_ secret to store (dashboard endpoint or `stripe listen`).")
        parser.add_argument("--stripe-id", help="The we_ id of an endpoint made in the Stripe dashboard.")
        parser.add_argument("--list", action="store_true", help="Show the stored endpoints.")

    def handle(self, *args, base_url, secret, stripe_id, list, **options):
        if list:
            return self._list()
        base_url = base_url.rstrip("/")
        if not re.match(r"^https?://[^/\s]+$", base_url):
            raise CommandError(
                f"--base-url must be a scheme and host, like https://gatehouse.example.com (got {base_url!r})."
            )
        if secret is not None and not re.fullmatch(r"whsec_[A-Za-z0-9]+", secret):
            raise CommandError("--secret must be a Stripe signing secret (whsec_...).")
        if stripe_id and not secret:
            raise CommandError("--stripe-id needs --secret: Stripe shows an endpoint's secret only in the dashboard.")
        endpoint = self._store_secret(base_url, secret, stripe_id) if secret else self._register(base_url)
        self.stdout.write(self.style.SUCCESS(f"Webhook endpoint {endpoint.id} stored; Stripe delivers to:"))
        self.stdout.write(f"  {endpoint.url}")
        if not stripe_id and secret:
            path = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint.djstripe_uuid})
            self.stdout.write(f"Forward with: stripe listen --forward-to {base_url}{path}")

    def _url(self, base_url: str, endpoint_uuid) -> str:
        return base_url + reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})

    def _register(self, base_url: str) -> WebhookEndpoint:
        if not gateway.is_configured():
            raise CommandError("STRIPE_SECRET_KEY is not set: registering an endpoint needs the Stripe API.")
        existing = WebhookEndpoint.objects.filter(url__startswith=base_url + "/stripe/webhook/").first()
        if existing is not None:
            self.stdout.write(f"An endpoint for {base_url} is already stored; nothing registered.")
            return existing
        endpoint_uuid = uuid.uuid4()
        url = self._url(base_url, endpoint_uuid)
        try:
            created = gateway.create_webhook_endpoint(
                url=url,
                enabled_events=ENABLED_EVENTS,
                metadata={"djstripe_uuid": str(endpoint_uuid)},
                idempotency_key=f"webhook-endpoint:{url}",
            )
        except BillingError as error:
            raise CommandError(f"Stripe refused to create the endpoint: {error}") from error
        return self._save(created.to_dict(), created["secret"])

    def _store_secret(self, base_url: str, secret: str, stripe_id: str | None) -> WebhookEndpoint:
        if stripe_id:
            try:
                data = gateway.retrieve_webhook_endpoint(stripe_id).to_dict()
            except BillingError as error:
                raise CommandError(f"Could not read {stripe_id} from Stripe: {error}") from error
            ours = _OUR_PATH.search(data["url"])
            if ours is None:
                self.stderr.write(
                    self.style.WARNING(
                        f"{stripe_id} points at {data['url']}, not at this server's webhook path: set its URL in the"
                        " dashboard to the URL printed below."
                    )
                )
            data.setdefault("metadata", {})["djstripe_uuid"] = ours["uuid"] if ours else str(uuid.uuid4())
            endpoint = self._save(data, secret)
            if ours is None:
                endpoint.url = self._url(base_url, endpoint.djstripe_uuid)
                endpoint.save(update_fields=["url"])
            return endpoint
        endpoint_uuid = uuid.uuid4()
        with transaction.atomic():
            return WebhookEndpoint.objects.create(
                id=f"we_local_{endpoint_uuid.hex[:24]}",
                livemode=False,
                url=self._url(base_url, endpoint_uuid),
                enabled_events=["*"],
                api_version=settings.STRIPE_API_VERSION,
                status="enabled",
                secret=secret,
                djstripe_uuid=endpoint_uuid,
                metadata={"source": "stripe-cli"},
            )

    def _save(self, data: dict, secret: str) -> WebhookEndpoint:
        with transaction.atomic():
            endpoint = gateway.mirror_webhook_endpoint(data)
            endpoint.secret = secret
            endpoint.save(update_fields=["secret"])
        return endpoint

    def _list(self) -> None:
        endpoints = WebhookEndpoint.objects.order_by("created")
        if not endpoints:
            self.stdout.write("No webhook endpoint is stored: Stripe's deliveries would get 404.")
        for endpoint in endpoints:
            has_secret = "secret stored" if endpoint.secret else "NO SECRET"
            self.stdout.write(f"{endpoint.id}  {endpoint.status}  {has_secret}  {endpoint.url}")
