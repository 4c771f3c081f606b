"""The receiving end of webhooks: an ASGI app that verifies each POST and hands its frame on.

Both directions use it: a webhook server receives clients' requests with it, and a webhook client
receives the server's results with it. For every POST it

1. reads the body up to `max_body_bytes` (413 beyond);
2. verifies the Standard Webhooks signature and timestamp (401 with the reason, `signing.py`);
3. refuses an exact replay of a delivery it already accepted (same id, timestamp and signature:
   401), while a retry of one (same id, newer timestamp) is answered as accepted and not handed on
   twice;
4. refuses, with 403 and the reason, a frame its `refuse` check names a reason for (a server
   refuses a request whose reply address it may not answer: the client learns it at once, not at
   its timeout);
5. hands the frame (the body, and the routing attributes from the headers of the same names) to
   its `sink`, and answers `accepted_status` (202 for requests: everything that answers them
   arrives later by webhook) with a small JSON body; a sink that is full answers 503 with
   `Retry-After`, one that fails answers 503.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from asyncmcp.channels.webhook.signing import HEADER_SIGNATURE, SignatureError, Signer
from asyncmcp.codec import ENVELOPE_ATTRIBUTES, Frame
from asyncmcp.errors import ChannelError
from asyncmcp.expiring import ExpiringSet

__all__ = ["Backpressure", "BodyTooLarge", "Sink", "WebhookIngress", "read_body"]

logger = logging.getLogger(__name__)

Sink = Callable[[Frame], Awaitable[None]]
Refusal = Callable[[Frame], str | None]
"""Why a verified frame is not taken (answered 403), or None to take it."""


class BodyTooLarge(Exception):
    """A request body went over the receiver's limit."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body of an ASGI request; None when the client went away first. Raises `BodyTooLarge`
    as soon as more than `limit` bytes arrived."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return bytes(body)


class Backpressure(Exception):
    """The sink cannot take a frame now; the sender should retry shortly (503, Retry-After)."""


class WebhookIngress:
    """ASGI app receiving signed POSTs at `path` (any path when None) and handing frames to `sink`."""

    def __init__(
        self,
        signer: Signer,
        sink: Sink,
        *,
        path: str | None = None,
        max_body_bytes: int = 1_048_576,
        accepted_status: int = 202,
        refuse: Refusal | None = None,
    ) -> None:
        self.signer = signer
        self.sink = sink
        self.refuse = refuse
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.accepted_status = accepted_status
        self._accepted = ExpiringSet(2.0 * signer.tolerance)
        """Delivery ids taken recently: a retry of one is acknowledged and not handed on again."""
        self._seen = ExpiringSet(2.0 * signer.tolerance)
        """(id, timestamp, signature) of deliveries taken: the exact same request again is a replay."""
        self.stats: dict[str, int] = {
            "accepted": 0, "duplicates": 0, "unsigned": 0, "replayed": 0, "too_large": 0, "refused": 0,
        }  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.path is not None and scope.get("path") != self.path:
            await _answer(send, 404, {"error": "not found"})
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, {"error": "webhooks are POSTed"}, extra=[(b"allow", b"POST")])
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            self.stats["too_large"] += 1
            await _answer(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
            return
        try:
            body = await read_body(receive, self.max_body_bytes)
        except BodyTooLarge:
            self.stats["too_large"] += 1
            await _answer(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
            return
        if body is None:
            return
        try:
            signed = self.signer.verify(headers, bytes(body))
        except SignatureError as exc:
            self.stats["unsigned"] += 1
            logger.warning("refused an unsigned or badly signed webhook: %s", exc)
            await _answer(send, 401, {"error": str(exc)})
            return
        exact = (signed.webhook_id, signed.timestamp, headers.get(HEADER_SIGNATURE, ""))
        if exact in self._seen:
            self.stats["replayed"] += 1
            await _answer(send, 401, {"error": "replayed webhook: this exact delivery was already received"})
            return
        if signed.webhook_id in self._accepted:
            self.stats["duplicates"] += 1  # a retry of a delivery already taken: say so, hand nothing on
            self._seen.add(exact)
            await _answer(send, self.accepted_status, {"accepted": True, "duplicate": True})
            return
        try:
            text = bytes(body).decode()
        except UnicodeDecodeError:
            await _answer(send, 400, {"error": "the body is not UTF-8"})
            return
        attributes = {name: headers[name] for name in ENVELOPE_ATTRIBUTES if name in headers}
        frame = Frame(text, attributes)
        reason = self.refuse(frame) if self.refuse is not None else None
        if reason is not None:
            self.stats["refused"] += 1
            logger.warning("refused webhook %s: %s", signed.webhook_id, reason)
            await _answer(send, 403, {"error": reason})
            return
        try:
            await self.sink(frame)
        except Backpressure:
            await _answer(send, 503, {"error": "busy; retry"}, extra=[(b"retry-after", b"1")])
            return
        except ChannelError as exc:
            logger.error("could not take webhook %s: %s", signed.webhook_id, exc)
            await _answer(send, 503, {"error": "could not take the request; retry"})
            return
        self._accepted.add(signed.webhook_id)
        self._seen.add(exact)
        self.stats["accepted"] += 1
        await _answer(send, self.accepted_status, {"accepted": True})


async def _answer(
    send: Send, status: int, payload: dict[str, object], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
