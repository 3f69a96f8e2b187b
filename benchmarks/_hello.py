"""Hello-world raw ASGI app: the ceiling of the server stack (granian) on this machine."""

from __future__ import annotations

from typing import Any

BODY = b'{"hello":"world"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})
