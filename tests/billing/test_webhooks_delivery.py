"""Real delivery conditions: forged and stale signatures, Stripe down during dj-stripe's re-fetch,
two Checkout tabs, the admin's event log and reprocess action, the endpoint command."""

import time
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from djstripe.models import Event, WebhookEndpoint, WebhookEventTrigger

from accounts.models import AuditEntry
from billing import duplicates
from billing.exceptions import BillingUnavailable
from billing.models import Subscription
from tests.billing.fake_billing import deliver, start_checkout, webhook_url
from tests.fake_stripe import event_payload, post_event, sign_payload
from tests.mfa_helpers import sign_in_with_second_factor


@pytest.fixture
def checkout_done(alice, fake):
    return fake.complete_checkout(start_checkout(alice))


def nothing_written():
    return WebhookEventTrigger.objects.count() == 0 and Event.objects.count() == 0 and not Subscription.objects.exists()


# --- signatures --------------------------------------------------------------------------------


def test_it_refuses_a_signature_made_with_another_secret(client, fake, endpoint, checkout_done):
    event = checkout_done.event("customer.subscription.created")
    fake.requests.clear()

    response = post_event(client, webhook_url(endpoint), event, "whsec_" + "x" * 32)

    assert response.status_code == 400
    assert nothing_written()
    assert fake.requests == []  # not even dj-stripe's re-fetch


def test_it_refuses_a_stale_timestamp(client, endpoint, checkout_done):
    event = checkout_done.event("customer.subscription.created")

    response = post_event(client, webhook_url(endpoint), event, endpoint.secret, timestamp=int(time.time()) - 301)

    assert response.status_code == 400
    assert nothing_written()


def test_it_accepts_a_timestamp_inside_the_tolerance(client, endpoint, checkout_done):
    event = checkout_done.event("customer.subscription.created")

    response = post_event(client, webhook_url(endpoint), event, endpoint.secret, timestamp=int(time.time()) - 290)

    assert response.status_code == 200


def test_it_refuses_a_body_changed_after_signing(client, endpoint, checkout_done):
    event = checkout_done.event("customer.subscription.created")
    signature = sign_payload(event_payload(event), endpoint.secret)
    event["data"]["object"]["status"] = "active" if event["data"]["object"]["status"] != "active" else "canceled"

    response = client.post(
        webhook_url(endpoint), event_payload(event), content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )

    assert response.status_code == 400
    assert nothing_written()


@pytest.mark.parametrize("header", [None, "", "t=1,v1=abc", "garbage"])
def test_it_refuses_a_missing_or_malformed_signature(client, endpoint, checkout_done, header):
    extra = {} if header is None else {"HTTP_STRIPE_SIGNATURE": header}
    body = event_payload(checkout_done.event("customer.subscription.created"))

    response = client.post(webhook_url(endpoint), body, content_type="application/json", **extra)

    assert response.status_code == 400
    assert nothing_written()


def test_it_refuses_a_signed_body_that_is_not_an_event(client, endpoint):
    body = b'{"hello": "world"}'
    response = client.post(
        webhook_url(endpoint),
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(body, endpoint.secret),
    )

    assert response.status_code == 400
    assert nothing_written()


def test_an_unknown_endpoint_is_404(client, endpoint, checkout_done):
    event = checkout_done.event("customer.subscription.created")

    response = post_event(client, "/stripe/webhook/00000000-0000-4000-8000-000000000000/", event, endpoint.secret)

    assert response.status_code == 404
    assert nothing_written()


# --- Stripe down during the re-fetch -----------------------------------------------------------


def test_stripe_down_during_the_refetch_is_a_503_and_the_retry_succeeds(
    alice, fake, endpoint, checkout_done, committing
):
    event = checkout_done.event("customer.subscription.created")
    fake.down()

    (response,) = deliver(alice, endpoint, event)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert not Event.objects.exists()  # rolled back: the retry processes it from scratch
    assert not Subscription.objects.exists()
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed) == (True, False)
    assert trigger.exception  # the admin's log shows why

    fake.up()
    with committing():
        (retry,) = deliver(alice, endpoint, event)

    assert retry.status_code == 200
    assert Subscription.objects.get().status == "active"
    assert [m.subject for m in mail.outbox] == ["[Gatehouse] Your Pro subscription has started"]
    assert not AuditEntry.objects.exists()  # Stripe's own retry is no staff change


# --- two Checkout tabs -------------------------------------------------------------------------


def test_two_paid_checkouts_leave_one_subscription_and_refund_the_other(alice, user, fake, endpoint, committing):
    # Both tabs were opened before either was paid (the portal refuses a third once one is active).
    pro_session, business_session = start_checkout(alice, "pro-monthly"), start_checkout(alice, "business-monthly")
    first = fake.complete_checkout(pro_session)
    second = fake.complete_checkout(business_session)

    with committing():
        deliver(alice, endpoint, *first.events)
    mark = len(fake.events)
    with committing():
        deliver(alice, endpoint, *second.events)
    with committing():
        responses = deliver(alice, endpoint, *fake.events[mark:])  # what canceling and refunding sent
    assert {r.status_code for r in responses} == {200}

    kept = Subscription.objects.get(stripe_subscription_id=first.subscription["id"])
    extra = Subscription.objects.get(stripe_subscription_id=second.subscription["id"])
    assert (kept.status, kept.grants_access, kept.plan.code) == ("active", True, "pro-monthly")
    assert (extra.duplicate_of, extra.grants_access, extra.status) == (kept, False, "canceled")
    assert extra.duplicate_resolved_at is not None
    assert fake.get(second.subscription["id"])["status"] == "canceled"
    assert fake.get(first.subscription["id"])["status"] == "active"
    (refund,) = fake.all("refund")
    assert (refund["charge"], refund["amount"], refund["reason"]) == (second.charge["id"], 9900, "duplicate")
    assert [m.subject for m in mail.outbox] == [
        "[Gatehouse] Your Pro subscription has started",
        "[Gatehouse] We refunded a duplicate Business subscription",
    ]
    told = mail.outbox[-1]
    assert told.to == ["alice@example.com"]
    assert "We kept your Pro subscription and canceled the extra Business one, refunding $99" in told.body


def test_resolving_a_duplicate_twice_refunds_once(alice, fake, endpoint, committing):
    sessions = start_checkout(alice, "pro-monthly"), start_checkout(alice, "business-monthly")
    first, second = (fake.complete_checkout(s) for s in sessions)
    with committing():
        deliver(alice, endpoint, *first.events, *second.events)
    extra = Subscription.objects.get(stripe_subscription_id=second.subscription["id"])

    assert duplicates.resolve(extra.pk) == "already_resolved"
    assert len(fake.all("refund")) == 1
    assert len(fake.calls("POST", "/v1/refunds")) == 1


def test_a_duplicate_waits_for_stripe_when_it_is_down(alice, fake, endpoint, committing):
    sessions = start_checkout(alice, "pro-monthly"), start_checkout(alice, "business-monthly")
    first, second = (fake.complete_checkout(s) for s in sessions)
    with committing():
        deliver(alice, endpoint, *first.events, *second.events[:-1])  # all but checkout.session.completed
    extra = Subscription.objects.get(stripe_subscription_id=second.subscription["id"])
    Subscription.objects.filter(pk=extra.pk).update(duplicate_resolved_at=None)  # as if the task had not run
    fake.down()

    with pytest.raises(BillingUnavailable):
        duplicates.resolve(extra.pk)

    extra.refresh_from_db()
    assert extra.duplicate_resolved_at is None
    fake.up()
    assert duplicates.resolve(extra.pk) == "resolved"
    assert len(fake.all("refund")) == 1  # the first run's refund (idempotency key) is the same refund


# --- the admin's event log ---------------------------------------------------------------------


def test_the_admin_lists_deliveries_with_their_errors_and_reprocesses_a_failed_one(
    alice, client, staff, fake, endpoint, checkout_done, committing
):
    event = checkout_done.event("customer.subscription.created")
    fake.down()
    deliver(alice, endpoint, event)
    fake.up()
    trigger = WebhookEventTrigger.objects.get()
    sign_in_with_second_factor(client, staff)

    page = client.get("/admin/djstripe/webhookeventtrigger/?processed__exact=0")
    assert page.status_code == 200
    assert "customer.subscription.created" in page.content.decode()
    assert event["id"] in page.content.decode()
    assert client.get(f"/admin/djstripe/webhookeventtrigger/{trigger.pk}/change/").status_code == 200

    with committing():
        response = client.post(
            "/admin/djstripe/webhookeventtrigger/",
            {"action": "reprocess", "_selected_action": [trigger.pk]},
            follow=True,
        )

    assert "Processed 1, failed 0, skipped 0" in response.content.decode()
    trigger.refresh_from_db()
    assert (trigger.processed, trigger.exception) == (True, "")
    assert Subscription.objects.get().status == "active"
    assert [m.subject for m in mail.outbox] == ["[Gatehouse] Your Pro subscription has started"]
    (entry,) = AuditEntry.objects.all()
    assert (entry.actor_id, entry.action, entry.object_type) == (
        staff.pk,
        "reprocess_webhook",
        "djstripe.webhookeventtrigger",
    )
    assert entry.note == f"Stripe event {event['id']} (customer.subscription.created): processed."


def changelist(client, query: str = "") -> str:
    response = client.get(f"/admin/djstripe/webhookeventtrigger/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_a_failed_delivery_that_stripe_delivered_again_shows_as_processed_later(
    alice, client, staff, fake, endpoint, checkout_done, committing, django_assert_num_queries
):
    event = checkout_done.event("customer.subscription.created")
    fake.down()
    deliver(alice, endpoint, event)
    failed = WebhookEventTrigger.objects.get()
    fake.up()
    with committing():
        (retry,) = deliver(alice, endpoint, event)  # Stripe's retry, an hour later
    assert retry.status_code == 200
    healed = WebhookEventTrigger.objects.get(processed=True)
    sign_in_with_second_factor(client, staff)

    failing = changelist(client, "?outcome=failing")
    assert event["id"] not in failing  # nothing is left to do about it
    assert "0 webhook event triggers" in failing
    assert f"/{failed.pk}/change/" in changelist(client, "?outcome=healed")
    # user, the counts (all, filtered), the page's rows, the nav's profile, the date hierarchy (2),
    # then the failed rows and their events: once for the page, not once per row; and whether staff
    # have a second factor (accounts.mfa, once per request)
    with django_assert_num_queries(10):
        everything = changelist(client)
    assert everything.count('<td class="field-outcome">Failed, processed later</td>') == 1
    assert everything.count('<td class="field-outcome">Processed</td>') == 1
    detail = client.get(f"/admin/djstripe/webhookeventtrigger/{failed.pk}/change/").content.decode()
    assert f"Delivery {healed.pk}, " in detail
    assert failed.exception in detail  # its error stays: it is what happened to that delivery

    response = client.post(
        "/admin/djstripe/webhookeventtrigger/", {"action": "reprocess", "_selected_action": [failed.pk]}, follow=True
    )
    assert "Processed 0, failed 0, skipped 1" in response.content.decode()  # not processed twice
    assert Subscription.objects.count() == 1


def test_a_delivery_that_is_still_failing_is_listed_as_failing(alice, client, staff, fake, endpoint, checkout_done):
    event = checkout_done.event("customer.subscription.created")
    fake.down()
    deliver(alice, endpoint, event)
    failed = WebhookEventTrigger.objects.get()
    sign_in_with_second_factor(client, staff)

    assert f"/{failed.pk}/change/" in changelist(client, "?outcome=failing")
    assert "0 webhook event triggers" in changelist(client, "?outcome=healed")
    assert '<td class="field-outcome">Failed</td>' in changelist(client)
    detail = client.get(f"/admin/djstripe/webhookeventtrigger/{failed.pk}/change/").content.decode()
    assert "Not processed yet" in detail


def test_reprocessing_while_stripe_is_still_down_keeps_the_error(alice, client, staff, fake, endpoint, checkout_done):
    fake.down()
    deliver(alice, endpoint, checkout_done.event("customer.subscription.created"))
    trigger = WebhookEventTrigger.objects.get()
    sign_in_with_second_factor(client, staff)

    response = client.post(
        "/admin/djstripe/webhookeventtrigger/", {"action": "reprocess", "_selected_action": [trigger.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "Processed 0, failed 1, skipped 0" in response.content.decode()
    trigger.refresh_from_db()
    assert (trigger.processed, bool(trigger.exception)) == (False, True)
    assert not Subscription.objects.exists()
    (entry,) = AuditEntry.objects.all()  # a failed try is recorded too
    assert entry.action == "reprocess_webhook"
    assert ": failed again: " in entry.note


def test_members_cannot_see_the_event_log(alice):
    assert alice.get("/admin/djstripe/webhookeventtrigger/").status_code == 302


# --- manage.py stripe_webhook_endpoint ---------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("stripe_webhook_endpoint", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_the_command_registers_the_endpoint_with_stripe_and_stores_its_secret(fake, settings):
    output = run("--base-url", "https://gatehouse.example.com")

    endpoint = WebhookEndpoint.objects.get()
    (remote,) = fake.all("webhook_endpoint")
    assert endpoint.id == remote["id"]
    assert endpoint.url == remote["url"] == f"https://gatehouse.example.com/stripe/webhook/{endpoint.djstripe_uuid}/"
    assert endpoint.secret == fake.webhook_secret(remote["id"])
    assert "invoice.payment_failed" in remote["enabled_events"]
    assert "customer.subscription.deleted" in remote["enabled_events"]
    (create,) = fake.calls("POST", "/v1/webhook_endpoints")
    assert create.params["api_version"] == settings.STRIPE_API_VERSION
    assert endpoint.url in output
    assert endpoint.secret not in output  # never printed

    run("--base-url", "https://gatehouse.example.com")  # again: nothing new in Stripe
    assert len(fake.all("webhook_endpoint")) == 1


def test_the_registered_endpoint_accepts_stripes_deliveries(client, alice, fake, checkout_done):
    run("--base-url", "https://gatehouse.example.com")
    endpoint = WebhookEndpoint.objects.get()

    (response,) = deliver(client, endpoint, checkout_done.event("customer.subscription.created"))

    assert response.status_code == 200


def test_the_command_stores_the_stripe_cli_secret_for_local_forwarding(client, alice, fake, checkout_done, db):
    secret = "whsec_" + "a1" * 16
    output = run("--secret", secret, "--base-url", "http://127.0.0.1:8000")

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret
    assert f"stripe listen --forward-to http://127.0.0.1:8000/stripe/webhook/{endpoint.djstripe_uuid}/" in output
    assert fake.all("webhook_endpoint") == []
    (response,) = deliver(client, endpoint, checkout_done.event("customer.subscription.created"))
    assert response.status_code == 200


def test_the_command_stores_the_secret_of_a_dashboard_endpoint(fake):
    made_in_dashboard = fake.create_webhook_endpoint(url="https://gatehouse.example.com/hooks/stripe")
    secret = fake.webhook_secret(made_in_dashboard["id"])

    output = run(
        "--secret", secret, "--stripe-id", made_in_dashboard["id"], "--base-url", "https://gatehouse.example.com"
    )

    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.id, endpoint.secret) == (made_in_dashboard["id"], secret)
    assert endpoint.url == f"https://gatehouse.example.com/stripe/webhook/{endpoint.djstripe_uuid}/"
    assert "set its URL in the dashboard" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--secret", "not-a-secret"], "whsec_"),
        (["--stripe-id", "we_123"], "needs --secret"),
        (["--base-url", "gatehouse.example.com"], "scheme and host"),
    ],
)
def test_the_command_explains_bad_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_the_command_says_when_stripe_is_not_configured(db, settings):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(CommandError, match="STRIPE_SECRET_KEY"):
        run("--base-url", "https://gatehouse.example.com")


def test_the_command_lists_endpoints_without_their_secrets(fake):
    run("--base-url", "https://gatehouse.example.com")
    endpoint = WebhookEndpoint.objects.get()

    output = run("--list")

    assert endpoint.url in output
    assert "secret stored" in output
    assert endpoint.secret not in output
