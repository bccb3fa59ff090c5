"""The contract's error shapes: 422 {"errors": {field: message}}, otherwise {"detail": message}."""

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


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


def api_exception_handler(exc, context):
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
