"""Content-Security-Policy and Permissions-Policy on every response.

Django 5.2 has neither (its CSP arrives in 6.0) and django-csp is not a dependency, so this is the
small piece of it we need. The policies are settings (CONTENT_SECURITY_POLICY and
PERMISSIONS_POLICY in config/settings.py: directive or feature -> list of sources).

No page inlines a script or a style. One that must (the Swagger UI at /api/docs/, whose init script
drf-spectacular inlines) marks the element ``nonce="{{ request.csp_nonce }}"``: the nonce is made
only when a template reads it, and only that response's script-src and style-src allow it.
"""

import secrets

from django.conf import settings

NONCE_DIRECTIVES = ("script-src", "style-src")


class CSPNonce:
    """A response's nonce, made the first time something renders it."""

    __slots__ = ("_value",)

    def __init__(self):
        self._value = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = secrets.token_urlsafe(18)
        return self._value

    @property
    def used(self) -> bool:
        return self._value is not None


def content_security_policy(directives: dict[str, list[str]], nonce: CSPNonce | None = None) -> str:
    parts = []
    for name, sources in directives.items():
        if nonce is not None and nonce.used and name in NONCE_DIRECTIVES:
            sources = [*sources, f"'nonce-{nonce}'"]
        parts.append(" ".join([name, *sources]))
    return "; ".join(parts)


def permissions_policy(features: dict[str, list[str]]) -> str:
    return ", ".join(f"{feature}=({' '.join(origins)})" for feature, origins in features.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = nonce = CSPNonce()
        # Template responses are rendered inside get_response, so the nonce is known afterwards.
        response = self.get_response(request)
        if "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = content_security_policy(
                settings.CONTENT_SECURITY_POLICY, nonce
            )
        if "Permissions-Policy" not in response.headers:
            response.headers["Permissions-Policy"] = permissions_policy(settings.PERMISSIONS_POLICY)
        return response
