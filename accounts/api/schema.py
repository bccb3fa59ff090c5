"""drf-spectacular post-processing: responses every /api/ operation can give, documented once."""

DETAIL_REF = {"$ref": "#/components/schemas/Detail"}
COMMON = {"429": "Rate limited; see Retry-After."}
WITH_BODY = {
    "400": "Malformed JSON.",
    "413": "Request body is too large.",
    "415": "Unsupported media type (send application/json).",
}


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
