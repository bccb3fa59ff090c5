"""Billing pages: thin views over billing.services; Stripe errors become a message on the page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import selectors, services
from billing.access import access_subscription, tier_required
from billing.exceptions import BillingError
from billing.models import Plan
from config.links import absolute_reverse


@require_GET
def pricing(request):
    plans = list(Plan.objects.active())
    if request.GET.get("checkout") == "canceled":
        messages.info(request, "Checkout was canceled: nothing was charged.")
    cards = selectors.pricing_cards(request.user, plans, needs=request.GET.get("needs", ""))
    return render(request, "billing/pricing.html", {"cards": cards})


@login_required
@require_POST
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
    subscription = access_subscription(request.user)
    if subscription is not None:  # Stripe's webhook was faster than the browser
        messages.success(request, f"Thank you! Your {subscription.plan.name} plan is active.")
    else:
        messages.success(
            request, "Thank you! Your payment went through; your plan is active as soon as Stripe confirms it."
        )
    return redirect("billing_subscription")


@login_required
@require_GET
def subscription(request):
    current = selectors.latest_subscription(request.user)
    other_plans = [
        plan for plan in Plan.objects.active() if plan.price_cents and (not current or plan.pk != current.plan_id)
    ]
    return render(request, "billing/subscription.html", {"subscription": current, "other_plans": other_plans})


@login_required
@require_http_methods(["GET", "POST"])
def change_plan(request):
    plan_code = request.POST.get("plan") or request.GET.get("plan", "")
    try:
        if request.method == "POST":
            remote = services.change_plan(
                user=request.user, plan_code=plan_code, proration_date=_int(request.POST.get("proration_date"))
            )
            pay_at = services.payment_link_for_pending_change(remote)
            if pay_at is not None:
                messages.warning(
                    request, "The payment for the new plan did not go through. Pay the invoice to finish the change."
                )
                return redirect(pay_at or "billing_subscription")
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
@require_POST
def cancel(request):
    try:
        services.cancel_at_period_end(user=request.user)
    except BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Your subscription will end at the end of the current period.")
    return redirect("billing_subscription")


@login_required
@require_POST
def resume(request):
    try:
        services.resume(user=request.user)
    except BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Your subscription will continue.")
    return redirect("billing_subscription")


@login_required
@require_POST
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
