"""The OpenAPI error responses, derived instead of written per view.

`ContractAutoSchema` (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) adds to each operation what its view
can answer: 401 when it needs a bearer, 403 when a permission can refuse a signed-in caller, 422
when it reads an input serializer (body or query), and the status of every domain error its handler
declares with `@raises(...)`. The post-processing hook adds what every /api/ operation can answer
(429; 400/413/415 with a body; 404 with a path parameter). Views document only their success.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_serializer
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny, IsAuthenticated

from accounts.api.serializers import DetailSerializer, ErrorsSerializer

ERRORS_422 = OpenApiResponse(ErrorsSerializer, description="Invalid input, one message per field.")
NOT_SIGNED_IN = "No bearer token, or it is invalid, expired or revoked."
# What every /api/ operation can answer, added by the post-processing hook.
DETAIL_REF = {"$ref": "#/components/schemas/Detail"}
COMMON = {"429": "Rate limited; see Retry-After."}
WITH_BODY = {
    "400": "Malformed JSON.",
    "413": "Request body is too large.",
    "415": "Unsupported media type (send application/json).",
}


def raises(*errors):
    """Declare the domain errors (classes with a `status_code`) a view method lets through to the
    exception handler, so that the schema documents their statuses."""

    def declare(handler):
        handler.raises = errors
        return handler

    return declare


def _describe(error) -> str:
    return error.message or (error.__doc__ or "").strip().split("\n")[0] or error.__name__


class ContractAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction == "response":
            for code, description in self._error_statuses().items():
                responses.setdefault(str(code), self._error_response(code, description))
        return responses

    def _error_response(self, code: int, description: str) -> dict:
        if code == 422:
            return self._get_response_for_code(ERRORS_422, "422")
        return {**self._get_response_for_code(DetailSerializer, str(code)), "description": description}

    def _error_statuses(self) -> dict[int, str]:
        statuses: dict[int, list[str]] = {}
        permissions = self.view.get_permissions()
        if any(isinstance(permission, IsAuthenticated) for permission in permissions):
            statuses.setdefault(401, []).append(NOT_SIGNED_IN)
        for permission in permissions:
            if not isinstance(permission, (IsAuthenticated, AllowAny)):  # a tuple: DRF overloads | on permissions
                statuses.setdefault(403, []).append(str(permission.message))
        if self._reads_input():
            statuses.setdefault(422, []).append(ERRORS_422.description)
        handler = getattr(self.view, self.method.lower(), None)
        for error in getattr(handler, "raises", ()):
            statuses.setdefault(error.status_code, []).append(_describe(error))
        return {code: " / ".join(dict.fromkeys(texts)) for code, texts in sorted(statuses.items())}

    def _reads_input(self) -> bool:
        if self.method in ("PUT", "PATCH", "POST") and self.get_request_serializer() is not None:
            return True
        return any(is_serializer(parameter) for parameter in self.get_override_parameters())


def add_common_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Detail", {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    )
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            extra = dict(COMMON)
            if "requestBody" in operation:
                extra.update(WITH_BODY)
            if "{" in path:
                extra["404"] = "Not found."
            for status, description in extra.items():
                operation["responses"].setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": DETAIL_REF}}}
                )
    return result
