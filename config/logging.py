"""One structured log line per request.

Only the path is logged, never the query string: seed clients still send tokens there
(`/api/verify?token=…`). Path parts that are secrets (allauth's verification and reset keys)
are masked. Headers, cookies and bodies are never logged.
"""

import logging
import re
import time
import uuid

logger = logging.getLogger("gatehouse.request")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id(request) -> str:
    """Keep a well-formed id from the proxy so one request can be followed across hops."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


SECRET_URL_KWARGS = {"key", "uidb36", "token", "code"}


def loggable_path(request) -> str:
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in match.kwargs.items():
            if name in SECRET_URL_KWARGS and value:
                path = path.replace(str(value), "[redacted]")
    return path


def _user_id(request):
    if getattr(request, "logged_error", None):
        return None  # the request failed for want of a backend: do not ask it again for the user
    user = getattr(request, "user", None)
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except Exception:  # the session store may be the thing that is down
        return None


def note_error(request, error: Exception) -> None:
    """Name ``error`` on this request's log line (its class only: messages can carry hosts)."""
    request.logged_error = type(error).__name__


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request.request_id = _request_id(request)
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        response[REQUEST_ID_HEADER] = request.request_id
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        extra = {
            "method": request.method,
            "path": loggable_path(request),
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": _user_id(request),
            "request_id": request.request_id,
        }
        if getattr(request, "logged_error", None):
            extra["error"] = request.logged_error
        logger.log(level, "request", extra=extra)
        return response
