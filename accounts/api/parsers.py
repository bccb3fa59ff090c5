import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# No request of the contract nests deeper than a few levels; this leaves room and stays far below
# the interpreter's recursion limit, which the json module and later json.dumps() would hit.
MAX_JSON_DEPTH = 32
TOO_DEEP = "JSON is nested too deeply."


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


def nesting_exceeds(value, limit: int) -> bool:
    """Whether lists/objects nest deeper than `limit`; iterative, so depth itself can't crash it."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class LimitedJSONParser(JSONParser):
    """JSON, read no further than API_MAX_BODY_BYTES and nested no deeper than MAX_JSON_DEPTH.

    DRF reads the raw stream, which skips Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so a huge
    body would otherwise be read into memory whole. The json module parses recursively: "[" * 5000
    raises RecursionError, which DRF does not treat as a parse error (an HTML 500).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge()
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge()
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nesting_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
