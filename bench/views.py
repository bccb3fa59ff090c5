"""The baselines every measured path is compared with: a bare Django view doing one indexed query.

They run behind the same middleware in the same gunicorn as the real pages, so a ratio to them
measures what our code adds, not what the machine, Django or the network stack cost.
"""

from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.models import Plan

PLAN_CODE = "pro-monthly"


def _plan() -> dict:
    # One query through a unique index (billing_plan.code).
    plan = Plan.objects.filter(code=PLAN_CODE).values("code", "name", "price_cents", "currency").first()
    if plan is None:
        raise Http404
    return plan


@require_GET
def baseline_template(request):
    return render(request, "bench/baseline.html", {"plan": _plan()})


@require_GET
def baseline_json(request):
    return JsonResponse(_plan())
