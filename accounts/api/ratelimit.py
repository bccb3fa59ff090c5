"""Rate limits for /api/: django-ratelimit's counter, one bucket per live login or client IP.

A bearer token keys a bucket only when it is a live token of a live login, and then the bucket is
that login's (its TokenFamily), so a phone behind a shared NAT has its own, while the new tokens
each refresh mints share it. Anything else counts against the client IP (allauth's trusted-proxy
logic): a made-up header, a token of a login that was revoked or has expired or whose user was
deactivated, a refresh token sent as a bearer. Rotating tokens or garbage headers can't dodge a limit.
"""

import math

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django_ratelimit.core import get_usage
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import FAMILY_CLAIM, request_family

API_PREFIX = "/api/"
EXEMPT_URL_NAMES = {"api-schema", "api-docs"}


def _bearer_login(request):
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not raw:
        return None
    try:
        family_id = AccessToken(raw).get(FAMILY_CLAIM)
    except TokenError:
        return None
    return request_family(request, family_id) if family_id else None


def client_key(request) -> str:
    family = _bearer_login(request)
    if family is not None and family.user.is_active:
        return f"login:{family.pk}"
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
