"""Billing pages: thin views over billing.services; Stripe errors become a message on the page."""

import time
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from billing import selectors, services
from billing import stripe_gateway as gateway
from billing.access import access_subscription, tier_required
from billing.exceptions import BillingError
from billing.models import Plan, SubscriptionStatus
from config.links import absolute_reverse


def post_only(explain):
    """A form's target: it acts on POST only. A GET (a reload, a bookmark, the URL typed in) goes to
    the page with the form and a message, not to an empty 405 that browsers show as a broken page.

    ``explain(request)`` gives (message, page); a HEAD gets the redirect without the message.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in ("GET", "HEAD"):
                text, to = explain(request)
                if request.method == "GET":
                    messages.info(request, text)
                return redirect(to)
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _explain_subscribe(request):
    if not gateway.is_configured():
        return "Plans go on sale once billing is configured.", "billing_pricing"
    if access_subscription(request.user) is not None:
        return "You already have a subscription: use the buttons on this page to switch plans.", "billing_pricing"
    return "Use the buttons on this page to subscribe to a plan.", "billing_pricing"


def _explain_cancel(request):
    current = access_subscription(request.user)
    if current is None:
        return "You have no subscription to cancel.", "billing_subscription"
    if current.cancel_at_period_end:
        return "Your subscription is already set to end at the end of the period.", "billing_subscription"
    return "Use the button on this page to cancel your subscription at the end of the period.", "billing_subscription"


def _explain_resume(request):
    current = access_subscription(request.user)
    if current is None:
        return "You have no subscription to keep.", "billing_subscription"
    if not current.cancel_at_period_end:
        return "Your subscription is not set to end: there is nothing to undo.", "billing_subscription"
    return "Use the button on this page to keep your subscription.", "billing_subscription"


def _explain_portal(request):
    if access_subscription(request.user) is None:
        return "Your past invoices are under Billing history on this page.", "billing_subscription"
    return "Use the button on this page to manage your payment method and invoices.", "billing_subscription"


@require_GET
def pricing(request):
    plans = list(Plan.objects.active())
    if request.GET.get("checkout") == "canceled":
        messages.info(request, "Checkout was canceled: nothing was charged.")
    cards = selectors.pricing_cards(request.user, plans, needs=request.GET.get("needs", ""))
    return render(request, "billing/pricing.html", {"cards": cards})


@login_required
@post_only(_explain_subscribe)
def subscribe(request):
    try:
        url = services.start_checkout(user=request.user, plan_code=request.POST.get("plan", ""))
    except BillingError as error:
        messages.error(request, str(error))
        return redirect("billing_pricing")
    return redirect(url)


@login_required
@require_GET
def checkout_success(request):
    """Checkout's success URL: say what Stripe and our record tell about this user's session."""
    outcome = selectors.checkout_return(request.user, request.GET.get("session_id", ""))
    if outcome.state in (_State.CONFIRMING, _State.UNCHECKED):
        # Not settled yet: the subscription page shows it as its one state until Stripe confirms.
        request.session[PENDING_CHECKOUT] = {
            "session": outcome.session_id,
            "state": outcome.state.value,
            "plan": outcome.plan.name if outcome.plan else "",
            "subscription": outcome.stripe_subscription_id,
            "at": time.time(),
        }
        return redirect("billing_subscription")
    request.session.pop(PENDING_CHECKOUT, None)
    level, text, to = _checkout_message(outcome)
    messages.add_message(request, level, text)
    return redirect(to)


_State = selectors.CheckoutState
# The Checkout the user came back from while it waits for Stripe (paid, not confirmed by the webhook
# yet; or not checked, Stripe was down): {"session", "state", "plan" (name), "subscription" (Stripe's
# id, when known), "at"} in their session.
PENDING_CHECKOUT = "billing_pending_checkout"
# Stripe confirms within seconds; after a day the webhook is lost and the nightly reconciliation has run.
PENDING_CHECKOUT_SECONDS = 24 * 3600
# What the page says for the other states of a Checkout the user came back from, and where it goes.
CHECKOUT_MESSAGES = {
    _State.ACTIVE: (messages.SUCCESS, "Thank you! Your {plan} is active.", "billing_subscription"),
    _State.DUPLICATE: (
        messages.INFO,
        "You already have the {kept} plan, so the subscription from this checkout {refund}.",
        "billing_subscription",
    ),
    _State.UNPAID: (
        messages.WARNING,
        "Your payment has not gone through yet, so your {plan} has not started.",
        "billing_subscription",
    ),
    _State.ENDED: (messages.INFO, "The subscription from this checkout has ended.", "billing_subscription"),
    _State.OPEN: (messages.INFO, "Your checkout is not finished: nothing was charged.", "billing_pricing"),
    _State.EXPIRED: (
        messages.INFO,
        "This checkout expired before it was paid: nothing was charged.",
        "billing_pricing",
    ),
    _State.UNKNOWN: (messages.INFO, "There is no checkout of yours to confirm.", "billing_subscription"),
}


def _checkout_message(outcome: selectors.CheckoutReturn) -> tuple[int, str, str]:
    level, text, to = CHECKOUT_MESSAGES[outcome.state]
    plan = f"{outcome.plan.name} plan" if outcome.plan else "plan"
    if outcome.state != _State.DUPLICATE:
        return level, text.format(plan=plan), to
    duplicate = outcome.subscription
    refund = (
        "was canceled and its payment refunded in full"
        if duplicate.duplicate_resolved_at
        else "is being canceled and its payment refunded in full; we will email you when it is done"
    )
    return level, text.format(kept=duplicate.duplicate_of.plan.name, refund=refund), to


@login_required
@require_GET
def subscription(request):
    current = selectors.latest_subscription(request.user)
    other_plans = [
        plan for plan in Plan.objects.active() if plan.price_cents and (not current or plan.pk != current.plan_id)
    ]
    context = {
        "subscription": current,
        "other_plans": other_plans,
        "pending": _pending_checkout(request, current),
        "invoice_to_pay": selectors.invoice_to_pay(current),
    }
    return render(request, "billing/subscription.html", context)


def _pending_checkout(request, current) -> dict | None:
    """The Checkout still waiting for Stripe, shown instead of the free plan (or an ended subscription)."""
    pending = request.session.get(PENDING_CHECKOUT)
    if pending is None:
        return None
    subscription_id = pending.get("subscription")
    # Settled by access, or by our record of that subscription past "incomplete" (Stripe said it was paid).
    settled = current is not None and (
        current.grants_access
        or (
            subscription_id
            and current.stripe_subscription_id == subscription_id
            and current.status != SubscriptionStatus.INCOMPLETE
        )
    )
    if settled or time.time() - pending["at"] > PENDING_CHECKOUT_SECONDS:
        del request.session[PENDING_CHECKOUT]
        return None
    return pending


@login_required
@require_http_methods(["GET", "POST"])
def change_plan(request):
    plan_code = request.POST.get("plan") or request.GET.get("plan", "")
    try:
        if request.method == "POST":
            change = services.change_plan(
                user=request.user, plan_code=plan_code, proration_date=_int(request.POST.get("proration_date"))
            )
            if change.payment_url is not None:
                messages.warning(
                    request, "The payment for the new plan did not go through. Pay the invoice to finish the change."
                )
                return redirect(change.payment_url or "billing_subscription")
            messages.success(request, "Your plan has been changed. A confirmation is on its way by email.")
            return redirect("billing_subscription")
        preview = services.preview_change(user=request.user, plan_code=plan_code)
    except BillingError as error:
        messages.error(request, str(error))
        return redirect("billing_subscription")
    return render(request, "billing/change_plan.html", {"preview": preview})


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@post_only(_explain_cancel)
def cancel(request):
    try:
        services.cancel_at_period_end(user=request.user)
    except BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Your subscription will end at the end of the current period.")
    return redirect("billing_subscription")


@login_required
@post_only(_explain_resume)
def resume(request):
    try:
        services.resume(user=request.user)
    except BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Your subscription will continue.")
    return redirect("billing_subscription")


@login_required
@post_only(_explain_portal)
def portal(request):
    try:
        url = services.billing_portal_url(user=request.user, return_url=absolute_reverse("billing_subscription"))
    except BillingError as error:
        messages.error(request, str(error))
        return redirect("billing_subscription")
    return redirect(url)


@login_required
@require_GET
def history(request):
    return render(request, "billing/history.html", {"invoices": selectors.invoices_for(request.user)})


@tier_required("pro")
@require_GET
def pro_reports(request):
    """The gated example: a page only Pro and Business subscribers see."""
    return render(request, "billing/pro_reports.html")
