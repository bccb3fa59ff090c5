"""The API's one error map: 422 {"errors": {field: message}}, otherwise {"detail": message}.

Views raise; they do not catch. Domain errors (config.errors.DomainError: accounts/exceptions.py,
billing/exceptions.py) answer with their own status and message; Django's ValidationError (a
password validator, a form the service ran) answers 422 like a serializer's.
"""

import math

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import DomainError


def _first_message(value) -> str:
    while isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, dict):
        key, nested = next(iter(value.items()))
        return f"{key}: {_first_message(nested)}"
    return str(value)


def field_errors(detail) -> dict[str, str]:
    """One message per field, named as the client sent it; form-wide errors under "__all__"."""
    if not isinstance(detail, dict):
        return {"__all__": _first_message(detail)}
    return {
        ("__all__" if field == "non_field_errors" else field): _first_message(messages)
        for field, messages in detail.items()
    }


def django_field_errors(error: DjangoValidationError, view=None) -> dict[str, str]:
    """A Django ValidationError per field; one without fields is about the view's `validation_error_field`
    (e.g. the new password that a password validator refused), else form-wide."""
    if hasattr(error, "error_dict"):
        return {field: errors[0].messages[0] for field, errors in error.error_dict.items()}
    return {getattr(view, "validation_error_field", NON_FIELD_ERRORS): error.messages[0]}


def _domain_error_response(exc: DomainError, context) -> Response:
    response = Response({"detail": str(exc)}, status=exc.status_code)
    if getattr(exc, "retry_after", None) is not None:
        response["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    view, request = context.get("view"), context.get("request")
    if exc.status_code == status.HTTP_401_UNAUTHORIZED and view is not None:
        challenge = view.get_authenticate_header(request)
        if challenge:
            response["WWW-Authenticate"] = challenge
    return response


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return _domain_error_response(exc, context)
    if isinstance(exc, DjangoValidationError):
        errors = django_field_errors(exc, context.get("view"))
        return Response({"errors": errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body is too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, exceptions.ValidationError):
        return Response({"errors": field_errors(exc.detail)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, exceptions.ParseError):
        return Response({"detail": f"Malformed request body: {exc.detail}"}, status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response
