"""Errors the fake answers with, in the shape Stripe's API uses: {"error": {type, code, param, message}}."""

from __future__ import annotations

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeFault(Exception):
    """Raised anywhere inside the fake; the HTTP layer turns it into Stripe's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        **extra,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra

    def body(self, request_id: str | None = None) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return {"error": error}


def unknown_parameter(param: str) -> StripeFault:
    return StripeFault(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def missing_parameter(param: str) -> StripeFault:
    return StripeFault(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str, code: str | None = None) -> StripeFault:
    return StripeFault(400, message, code=code, param=param)


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeFault:
    """A missing object: 404 when it is the URL's object, 400 when a parameter names it."""
    return StripeFault(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
