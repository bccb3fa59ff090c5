from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_safe

from config import error_responses, health


@require_GET
def home(request):
    return render(request, "home.html")


@never_cache
@require_safe
def livez(request):
    """Liveness probe (GET/HEAD): 200 while this process serves; touches no database, cache or broker.
    Answered by config.probes.ProbeMiddleware before host validation, so any Host header works."""
    return health.live()


@never_cache
@require_safe
def readyz(request):
    """Readiness probe (GET/HEAD), for load balancers: 503 unless the database answers and is fully
    migrated; Redis down is 200 "degraded". Answered by config.probes.ProbeMiddleware like livez."""
    return health.ready(health.check_all())


@never_cache
@require_GET
def healthz(request):
    """Monitoring report: 503 when the database, its migrations, the cache or the broker fails.
    Not a load-balancer probe (a Redis blip would pull every instance); behind ALLOWED_HOSTS."""
    return health.healthy(health.check_all())


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers and feed readers ask for /favicon.ico whatever the page links: point them at the icon
    in static files (its hashed name in production)."""
    return HttpResponseRedirect(static("img/favicon.ico"))


@never_cache
@require_GET
def status(request):
    """The footer's "Service status": the /healthz checks in words a customer reads, no internals."""
    services = health.public_status(health.check_all())
    return render(request, "status.html", {"services": services, "all_ok": all(s["ok"] for s in services)})


def rate_limited(request, exception=None):
    """django-ratelimit's RATELIMIT_VIEW: a page that says so, with 429 (not its default 403)."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response


def page_not_found(request, exception=None):
    """JSON under /api/ (the contract's {"detail"} shape), the styled page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    """handler500: a database outage is a 503; JSON under /api/; else the styled page (no context:
    whatever failed may be what a context processor needs)."""
    error = error_responses.database_unavailable()
    if error is not None:
        return error_responses.service_unavailable(request, error)
    if error_responses.is_api(request):
        return error_responses.api_error(500)
    # No request context: whatever failed may be what a context processor needs. The id is the one
    # on the request log line and in the X-Request-ID header, so support can find what happened.
    html = loader.render_to_string("500.html", {"request_id": getattr(request, "request_id", "")})
    return HttpResponse(html, status=500)
