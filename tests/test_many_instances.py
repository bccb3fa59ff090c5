"""Many web instances behind one proxy: the README's "Many web instances" recipe, run for real.

Two gunicorn processes (production settings, the repository's gunicorn.conf.py, FORWARDED_ALLOW_IPS
= the proxy's address, TRUSTED_PROXY_COUNT=1) serve the test database and one Redis of their own;
nginx, with deploy/nginx.conf.example rendered, balances them round robin and says in an
X-Upstream header which one answered. Clients are told apart by the loopback address they connect
from (127.0.0.2, 127.0.0.3, ...): that is the peer nginx appends to X-Forwarded-For, as it would
append a real client's address. The webhook tests point the instances' stripe SDK at the session's
loopback fake Stripe (tests/fake_stripe) and sign deliveries with the endpoint's secret.

The one difference from the production settings: STATIC_ROOT points at a temporary directory that
the fixture fills with `collectstatic` (production settings need the manifest to render a page),
so the test writes nothing into the work tree.
"""

import http.client
import re
import secrets
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.db import connection
from django.test import Client as DjangoClient
from djstripe.models import Event

from accounts.hashers import Argon2idHasher
from billing.locks import customer_lock
from billing.models import Subscription
from mail.models import OutboundEmail
from tests.billing.fake_billing import (
    make_webhook_endpoint,
    start_checkout,
    sync_plans,
    webhook_url,
)
from tests.celery_worker import ROOT, database_url, skip_or_fail
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.fake_stripe import FAKE_API_KEY
from tests.fake_stripe.webhooks import event_payload, sign_payload
from tests.servers import ConfiguredGunicorn, Nginx, RedisServer, closed_port

HOST = "127.0.0.1"  # what nginx passes on as Host ($host): the only entry of ALLOWED_HOSTS
API_LIMIT = 5  # per minute and client: the contract's default

# The web processes use the test database; the mark makes pytest-django set it up (and the tests
# themselves write nothing in-process).
pytestmark = pytest.mark.django_db

SETTINGS_MODULE = "gatehouse_many_instances_settings"
SETTINGS_SOURCE = """\
import os

from config.settings import *  # noqa: F403 - the production settings, static files collected elsewhere

STATIC_ROOT = os.environ["GATEHOUSE_TEST_STATIC_ROOT"]

# The loopback fake Stripe answers dj-stripe's re-fetches while a webhook is handled (as bench/ does).
import stripe  # noqa: E402

stripe.api_base = os.environ["GATEHOUSE_TEST_STRIPE_API_BASE"]
stripe.max_network_retries = 0
stripe.enable_telemetry = False
STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY  # noqa: F405 - dj-stripe's test-mode key, as the billing tests set it
"""


class Client:
    """One HTTP client, known to the proxy by the loopback address it connects from; keeps its cookies."""

    def __init__(self, proxy: Nginx, address: str):
        self.proxy = proxy
        self.address = address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.proxy.port, timeout=30, source_address=(self.address, 0)
        )
        all_headers = {"Host": HOST, **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if body is not None:
            all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        response.text = response.read().decode(errors="replace")
        connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response


def upstream(response) -> str:
    return response.headers["X-Upstream"]


@pytest.fixture(scope="module")
def site(tmp_path_factory, django_db_setup, django_db_blocker, fake_stripe_server):
    """Two web instances and the proxy in front, up for the whole module."""
    if connection.vendor != "postgresql":
        skip_or_fail("the web processes cannot see the test's in-memory SQLite database: set DATABASE_URL")
    tmp = tmp_path_factory.mktemp("many-instances")
    (tmp / f"{SETTINGS_MODULE}.py").write_text(SETTINGS_SOURCE)
    redis = RedisServer(tmp)
    redis.start()
    env = {
        "PYTHONPATH": str(tmp),
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "GATEHOUSE_TEST_STATIC_ROOT": str(tmp / "static"),
        # One media folder for both, as the README's recipe says (a shared volume).
        "MEDIA_ROOT": str(tmp / "media"),
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        # Nothing here sends mail; a closed port, so a mistake could not deliver any.
        "EMAIL_URL": f"smtp://127.0.0.1:{closed_port()}",
        # The proxy here speaks plain HTTP; behind TLS this stays at its default, True.
        "SECURE_SSL_REDIRECT": "False",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "API_RATE_LIMIT_DEFAULT": f"{API_LIMIT}/m",
        "GATEHOUSE_TEST_STRIPE_API_BASE": fake_stripe_server.api_base,
        "STRIPE_SECRET_KEY": FAKE_API_KEY,
        "STRIPE_TEST_MODE_OK": "True",
    }
    webs = [ConfiguredGunicorn(tmp, env) for _ in range(2)]
    collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    collected = subprocess.run(collect, cwd=ROOT, env=webs[0].env, capture_output=True, text=True, check=False)
    assert collected.returncode == 0, collected.stderr
    proxy = None
    try:
        for web in webs:
            web.start()
        site_conf = (ROOT / "deploy" / "nginx.conf.example").read_text()
        site_conf = site_conf.replace("@WEB_SERVERS@", " ".join(f"server 127.0.0.1:{web.port};" for web in webs))
        # Which instance answered; for the test only (a real deployment keeps it to itself).
        site_conf = site_conf.replace("@TEST_ONLY@", "add_header X-Upstream $upstream_addr always;")
        proxy = Nginx(tmp, site_conf)
        proxy.start()
        yield proxy, webs
    finally:
        if proxy is not None:
            proxy.stop()
        for web in webs:
            web.stop()
        redis.stop()


@pytest.fixture
def proxy(site):
    return site[0]


@pytest.fixture
def backends(site):
    return {f"127.0.0.1:{web.port}" for web in site[1]}


@pytest.fixture(scope="module")
def member(site, django_db_blocker):
    """A verified member whose password the production hasher (Argon2id) can check.

    Committed outside any test's transaction (the web processes see only committed rows) and
    deleted afterwards, so the session tests need no transactional test's flush.
    """
    hasher = Argon2idHasher()
    with django_db_blocker.unblock():
        user = UserFactory(username="carol", email="carol@example.com")
        user.password = hasher.encode(DEFAULT_PASSWORD, hasher.salt())
        user.save(update_fields=["password"])
    yield user
    with django_db_blocker.unblock():
        user.delete()


def csrf_token(page: str) -> str:
    # The page's own form, or the sign-out button of the layout: any of them carries a valid token.
    return re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[0]


def sign_in(client: Client, login: str, password: str):
    form = client.request("GET", "/accounts/login/")
    assert form.status == 200, form.text[-2000:]
    csrf = csrf_token(form.text)
    body = f"csrfmiddlewaretoken={csrf}&login={login}&password={password}"
    return client.request(
        "POST", "/accounts/login/", body=body, headers={"Referer": "http://127.0.0.1/accounts/login/"}
    )


def test_a_session_made_through_one_instance_is_signed_in_on_every_instance(proxy, backends, member):
    browser = Client(proxy, "127.0.0.2")
    signed_in = sign_in(browser, "carol", DEFAULT_PASSWORD)
    assert signed_in.status == 302, signed_in.text[-2000:]
    assert signed_in.headers["Location"] == "/accounts/profile/"

    pages = [browser.request("GET", "/accounts/profile/") for _ in range(4)]

    assert {upstream(page) for page in pages} == backends, "round robin: both instances answered"
    for page in pages:
        assert page.status == 200, (upstream(page), page.status, page.headers.get("Location"))
        assert "carol@example.com" in page.text, upstream(page)


def test_a_session_signed_out_on_one_instance_is_signed_out_on_every_instance(proxy, backends, member):
    browser = Client(proxy, "127.0.0.2")
    assert sign_in(browser, "carol", DEFAULT_PASSWORD).status == 302
    form = browser.request("GET", "/accounts/logout/")
    csrf = csrf_token(form.text)
    assert browser.request("POST", "/accounts/logout/", body=f"csrfmiddlewaretoken={csrf}").status == 302

    pages = [browser.request("GET", "/accounts/profile/") for _ in range(4)]

    assert {upstream(page) for page in pages} == backends
    for page in pages:
        assert page.status == 302, upstream(page)
        assert page.headers["Location"].startswith("/accounts/login/")


def test_one_client_has_one_rate_limit_bucket_across_the_instances(proxy, backends):
    client = Client(proxy, "127.0.0.4")

    answers = [client.request("GET", "/api/billing/plans") for _ in range(API_LIMIT + 1)]

    assert [answer.status for answer in answers] == [200] * API_LIMIT + [429]
    assert {upstream(answer) for answer in answers[:API_LIMIT]} == backends, "counted on both instances"
    assert answers[-1].headers["Retry-After"].isdigit()


def test_a_made_up_forwarded_for_does_not_buy_a_client_a_new_bucket(proxy, backends):
    client = Client(proxy, "127.0.0.5")
    for _ in range(API_LIMIT):
        assert client.request("GET", "/api/billing/plans").status == 200

    # nginx appends the real peer (127.0.0.5); TRUSTED_PROXY_COUNT=1 reads that last entry only.
    spoofed = [
        client.request("GET", "/api/billing/plans", headers={"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(4)
    ]

    assert [answer.status for answer in spoofed] == [429] * 4
    assert {upstream(answer) for answer in spoofed} == backends


def test_two_clients_have_two_buckets(proxy):
    first, second = Client(proxy, "127.0.0.6"), Client(proxy, "127.0.0.7")
    for _ in range(API_LIMIT):
        assert first.request("GET", "/api/billing/plans").status == 200
    assert first.request("GET", "/api/billing/plans").status == 429

    assert second.request("GET", "/api/billing/plans").status == 200


def test_a_clients_own_forwarded_proto_is_overwritten_by_the_proxy(proxy, backends):
    # Django sends HSTS only over what it takes for HTTPS; the proxy speaks plain HTTP here and
    # says so ($scheme), whatever the client claims. (The instances trust the proxy's header.)
    client = Client(proxy, "127.0.0.8")

    answers = [client.request("GET", "/", headers={"X-Forwarded-Proto": "https"}) for _ in range(2)]

    assert {upstream(answer) for answer in answers} == backends
    for answer in answers:
        assert answer.status == 200
        assert answer.headers["Strict-Transport-Security"] is None


# --- The webhook lock: a PostgreSQL advisory lock, so it holds across instances ----------------


def start_deliveries(proxy: Nginx, path: str, event: dict, secret: str, copies: int = 2):
    """POST the same signed event ``copies`` times at once through the proxy, in threads.

    Returns (responses, threads): a response stays None until its answer has arrived."""
    body = event_payload(event)
    barrier = threading.Barrier(copies)
    responses = [None] * copies

    def post(index):
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign_payload(body, secret)}
        barrier.wait()
        responses[index] = Client(proxy, "127.0.0.9").request("POST", path, body=body.decode(), headers=headers)

    threads = [threading.Thread(target=post, args=(index,)) for index in range(copies)]
    for thread in threads:
        thread.start()
    return responses, threads


def deliver_at_once(proxy: Nginx, path: str, event: dict, secret: str, copies: int = 2):
    responses, threads = start_deliveries(proxy, path, event, secret, copies)
    for thread in threads:
        thread.join(timeout=60)
    return responses


@pytest.fixture
def paid_checkout(fake_stripe_settings, user):
    """alice paid through Checkout; (the fake, dj-stripe's webhook endpoint, the checkout's events)."""
    fake = fake_stripe_settings
    sync_plans("pro-monthly")
    endpoint = make_webhook_endpoint(fake)
    shopper = DjangoClient()
    shopper.force_login(user)
    return fake, endpoint, fake.complete_checkout(start_checkout(shopper))


@pytest.mark.django_db(transaction=True)
def test_one_event_delivered_to_both_instances_at_once_has_one_effect(proxy, backends, paid_checkout):
    fake, endpoint, done = paid_checkout
    event = done.event("customer.subscription.created")
    # dj-stripe's re-fetches take 0.3 s, so both deliveries are in flight together.
    fake.timeout_next(seconds=0.3, times=2, path_prefix="/v1/subscriptions/", method="GET", process=True)

    responses = deliver_at_once(proxy, webhook_url(endpoint), event, endpoint.secret)

    assert [response.status for response in responses] == [200, 200], [r.text[-500:] for r in responses]
    assert {upstream(response) for response in responses} == backends, "one delivery to each instance"
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert Subscription.objects.get().status == "active"
    assert OutboundEmail.objects.filter(subject__endswith="subscription has started").count() == 1


@pytest.mark.django_db(transaction=True)
def test_every_instance_waits_for_the_customers_lock_that_another_process_holds(proxy, backends, paid_checkout):
    # The lock is PostgreSQL's (an advisory lock per customer), not a process's: while this test
    # process holds it, neither instance processes a delivery for that customer.
    _, endpoint, done = paid_checkout
    event = done.event("customer.subscription.created")
    hold = 1.5

    with customer_lock(done.subscription["customer"]):
        responses, threads = start_deliveries(proxy, webhook_url(endpoint), event, endpoint.secret)
        time.sleep(hold)
        assert responses == [None, None], "answered while another process held the customer's lock"
        assert not Event.objects.filter(id=event["id"]).exists()
    for thread in threads:
        thread.join(timeout=60)

    assert [response.status for response in responses] == [200, 200], [r.text[-500:] for r in responses]
    assert {upstream(response) for response in responses} == backends
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert OutboundEmail.objects.filter(subject__endswith="subscription has started").count() == 1


# --- Beat: one scheduler for the whole deployment ----------------------------------------------


def beat_services(compose: dict) -> list[str]:
    def runs_beat(service: dict) -> bool:
        command = service.get("command") or ""
        words = command.split() if isinstance(command, str) else list(command)
        return "celery" in words and "beat" in words

    return [name for name, service in compose["services"].items() if runs_beat(service)]


def test_compose_runs_exactly_one_beat_with_the_database_scheduler():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    [beat] = beat_services(compose)

    service = compose["services"][beat]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in service["command"]
    assert service.get("deploy", {}).get("replicas") == 1
    # The web service runs the image's gunicorn, never a scheduler of its own.
    assert "beat" not in str(compose["services"]["web"].get("command", ""))


def test_the_schedule_lives_in_the_database_that_every_instance_shares():
    # Web instances add nothing to it: beat reads django-celery-beat's tables (the migration's
    # rows), so any number of web processes leave exactly one scheduler; only a second beat
    # process would double-run the tasks.
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "django_celery_beat" in settings.INSTALLED_APPS


def test_no_document_suggests_scaling_beat():
    documents = [ROOT / "README.md", ROOT / "docker-compose.yml", *sorted((ROOT / "deploy").iterdir())]
    for document in documents:
        for line in Path(document).read_text().splitlines():
            if re.search(r"--scale\s+beat|beat\s*=\s*(N|[2-9])", line):
                # Only as a warning ("Never `--scale beat=N`"), never as advice.
                assert re.search(r"\b(never|not|don't)\b", line, re.IGNORECASE), (document.name, line)


def test_a_picture_over_nginxs_default_body_limit_uploads_and_every_instance_serves_it(proxy, backends, member):
    import io
    import os

    from PIL import Image

    browser = Client(proxy, "127.0.0.3")
    assert sign_in(browser, "carol", DEFAULT_PASSWORD).status == 302
    page = browser.request("GET", "/accounts/profile/")
    # Noise does not compress: a PNG of about 2 MB, over the server's 1 MB client_max_body_size.
    out = io.BytesIO()
    Image.frombytes("RGB", (820, 820), os.urandom(820 * 820 * 3)).save(out, format="PNG", compress_level=0)
    picture = out.getvalue()
    assert len(picture) > 1024 * 1024
    boundary = "gatehouse-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f'{csrf_token(page.text)}\r\n--{boundary}\r\nContent-Disposition: form-data; name="first_name"'
            f'\r\n\r\nCarol\r\n--{boundary}\r\nContent-Disposition: form-data; name="picture"; '
            f'filename="noise.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + picture
        + f"\r\n--{boundary}--\r\n".encode()
    )
    saved = browser.request(
        "POST",
        "/accounts/profile/",
        body=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Referer": "http://127.0.0.1/accounts/profile/",
        },
    )
    assert saved.status == 302, (saved.status, saved.text[-2000:])
    src = re.search(r'<img class="avatar" src="([^"]+)"', browser.request("GET", "/accounts/profile/").text)
    assert src, "no picture on the profile page"
    answers = [browser.request("GET", src.group(1)) for _ in range(4)]
    assert {upstream(answer) for answer in answers} == backends
    assert {(answer.status, answer.headers["Content-Type"]) for answer in answers} == {(200, "image/webp")}
