import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    """JSON, read no further than API_MAX_BODY_BYTES.

    DRF reads the raw stream, which skips Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, so a huge
    body would otherwise be read into memory whole.
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
        return super().parse(io.BytesIO(body), media_type, parser_context)
