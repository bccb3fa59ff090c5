"""Rate limits for /api/: django-ratelimit's counter, one bucket per token holder or client IP.

The key is the bearer token when it is a genuine one of ours (so a phone behind a shared NAT has
its own bucket), otherwise the client IP (allauth's trusted-proxy logic). A made-up header never
gets a bucket of its own, so rotating garbage headers can't dodge the IP limit.
"""

import hashlib
import math

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django_ratelimit.core import get_usage
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

API_PREFIX = "/api/"
EXEMPT_URL_NAMES = {"api-schema", "api-docs"}


def client_key(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme == "Bearer" and raw:
        try:
            AccessToken(raw)
        except TokenError:
            pass
        else:
            return "bearer:" + hashlib.sha256(raw.encode()).hexdigest()
    return "ip:" + get_adapter(request).get_client_ip(request)


def rate_for(url_name: str) -> str:
    return settings.API_RATE_LIMITS.get(url_name, settings.API_RATE_LIMIT_DEFAULT)


def too_many_requests(seconds_left: float) -> JsonResponse:
    response = JsonResponse({"detail": "Too many requests. Try again later."}, status=429)
    response["Retry-After"] = str(max(1, math.ceil(seconds_left)))
    return response


class ApiRateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            limited = self.check(request)
            if limited is not None:
                return limited
        return self.get_response(request)

    def check(self, request):
        try:
            url_name = resolve(request.path_info).url_name
        except Resolver404:
            return None
        if not url_name or url_name in EXEMPT_URL_NAMES:
            return None
        key = client_key(request)
        usage = get_usage(
            request, group=f"api:{url_name}", key=lambda group, req: key, rate=rate_for(url_name), increment=True
        )
        if usage is not None and usage["should_limit"]:
            return too_many_requests(usage["time_left"])
        return None
