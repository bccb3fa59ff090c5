"""Errors answered in the shape the caller reads: the API's `{"detail": ...}`, the portal's pages.

- The database unreachable (a connection refused, dropped or timed out) is an outside outage, not
  our bug: 503 with Retry-After, the JSON detail under /api/, a styled page rendered without the
  database elsewhere, and one request log line naming the error instead of a traceback per request.
- Under /api/, Django's own 404 and 500 (an unknown path, a crash) are JSON too, also under
  DEBUG, where Django answers them with its HTML debug pages.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader

from config.logging import note_error

# psycopg's and sqlite3's connection failures; Django wraps both in these.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30
UNAVAILABLE_DETAIL = "The service is temporarily unavailable. Please try again in a minute."
API_DETAILS = {404: "Not found.", 500: "Internal server error."}


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def api_error(status: int) -> JsonResponse:
    return JsonResponse({"detail": API_DETAILS[status]}, status=status)


def service_unavailable(request, error: Exception) -> HttpResponse:
    """The 503 for an outage; nothing here touches the database (no user, no session, no messages)."""
    if is_api(request):
        response = JsonResponse({"detail": UNAVAILABLE_DETAIL}, status=503)
    else:
        context = {"request_id": getattr(request, "request_id", "")}
        response = HttpResponse(loader.render_to_string("503.html", context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    note_error(request, error)
    # The request log line says it (config.logging); Django's would repeat it with a traceback.
    response._has_been_logged = True
    return response


def database_unavailable() -> Exception | None:
    """The database error being handled now, if that is what is being handled."""
    error = sys.exc_info()[1]
    return error if isinstance(error, DATABASE_UNAVAILABLE) else None


class ErrorResponseMiddleware:
    """Right after the request log in MIDDLEWARE, so its line shows the answer given here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            is_api(request)
            and response.status_code in API_DETAILS
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return api_error(response.status_code)  # DEBUG's technical 404/500 page
        return response

    def process_exception(self, request, exception):
        # Views' exceptions; a middleware's reach config.views.server_error (handler500).
        if isinstance(exception, DATABASE_UNAVAILABLE):
            return service_unavailable(request, exception)
        return None
