"""Reading a request body under ADAPTER_MAX_BODY_BYTES: counted as it arrives, never buffered past the cap."""

from starlette.requests import ClientDisconnect, Request

from adapter.errors import InvalidRequest, RequestTooLarge


async def read_capped_body(request: Request, limit: int) -> bytearray:
    """The whole body, or RequestTooLarge as soon as it passes `limit` bytes (at once for a Content-Length
    past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit, f"Content-Length is {int(declared)} bytes")
    body = bytearray()  # grows in place and is parsed as is: no second copy of a large body
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large(limit, "the body is longer")
    except ClientDisconnect:
        raise InvalidRequest("the client went away before its body was complete") from None
    return body


def too_large(limit: int, found: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"request body over the adapter's limit of {limit} bytes ({found}; ADAPTER_MAX_BODY_BYTES)"
    )
