"""Minimal ASGI plumbing: one error type, one JSON error shape, bounded body reading."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"


class HTTPError(Exception):
    """Every 4xx/5xx answer: rendered as {"ok": false, "status", "code", "error"}."""

    def __init__(
        self, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []

    def body(self) -> bytes:
        return orjson.dumps(
            {"ok": False, "status": self.status, "code": self.code, "error": self.message}
        )


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: list[tuple[bytes, bytes]] | None = None,
    head: bool = False,
) -> None:
    """The response; with ``head`` (a HEAD request) its headers only, the length the body's."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, gunzipped if its Content-Encoding says gzip; 413 as soon as it
    exceeds ``limit`` bytes (compressed or not)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise HTTPError(413, "body_too_large", f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client_disconnected", "client went away mid-body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, "body_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return _decoded(b"".join(chunks), header(scope, b"content-encoding"), limit)


def _decoded(body: bytes, encoding: bytes | None, limit: int) -> bytes:
    """The body as sent, or gunzipped (batches of events compress ~10x), at most ``limit``
    bytes once decompressed: a small bomb must not unpack into the worker's memory."""
    name = (encoding or b"identity").strip().lower()
    if name == b"identity":
        return body
    if name not in (b"gzip", b"x-gzip"):
        raise HTTPError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {name.decode('latin-1')!r} is not supported: send gzip or an"
            " uncompressed body",
        )
    inflater = zlib.decompressobj(wbits=31)  # 31: gzip framing
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPError(400, "malformed_body", f"request body is not valid gzip: {exc}") from None
    if len(plain) > limit:
        raise HTTPError(
            413, "body_too_large", f"request body exceeds {limit} bytes once decompressed"
        )
    if not inflater.eof or inflater.unused_data:
        raise HTTPError(400, "malformed_body", "request body is not one complete gzip stream")
    return plain


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise HTTPError(400, "empty_body", "request body must be a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HTTPError(422, "invalid_body", "request body must be a JSON object")
    return value


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None
