"""Signed POSTs with retries: how a frame reaches a webhook URL.

Each frame is one POST: the body is the JSON-RPC message exactly as the codec wrote it, the
frame's attributes travel as headers of the same names (`mcp-client-id`, ...), and the Standard
Webhooks headers sign it (`signing.py`). A delivery keeps its `webhook-id` on every attempt, so a
receiver that already took it drops the duplicate; each attempt is signed afresh.

- A 2xx is delivered. A 3xx is a failure and is not followed (the URL should be corrected).
- 408, 429, a 5xx and a connection failure are retried on `RetrySchedule`, honouring `Retry-After`
  (capped); once the schedule is spent the delivery fails for good (`AddressNotFoundError` when the
  address never answered, so nobody tries an error frame to it).
- Any other 4xx fails at once: the receiver refused this delivery (413: the frame is too large).
- Deliveries run in their callers' tasks, so there is no sender queue to block behind; at most
  `per_destination` run at once to one destination (scheme, host and port), so one slow receiver
  delays only its own deliveries.

Every attempt goes through the egress policy (`egress.py`) for URLs a client named.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import cast
from urllib.parse import urlsplit

import anyio
import httpx2

from asyncmcp.channels.webhook.egress import EgressPolicy, EgressRefused, PinnedTransport
from asyncmcp.channels.webhook.signing import Signer
from asyncmcp.codec import Frame
from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

__all__ = ["RetrySchedule", "WebhookSender"]

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

MAX_RESPONSE_BYTES = 64 * 1024
"""A receiver's answer is read up to this much. It is never passed on, except by a sender told to
`explain_refusals` (a client POSTing to the server its operator configured): what a URL a client
named answers must not reach anyone (no response oracle)."""

SIGNATURE_HINT = "; check that both sides share a signing secret (ASYNCMCP_WEBHOOK_SECRETS)"


@dataclass(frozen=True)
class RetrySchedule:
    """Pauses before each retry of a delivery; the number of retries is its length."""

    delays: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    max_retry_after: float = 60.0
    """A receiver's `Retry-After` is honoured up to this many seconds."""
    timeout_seconds: float = 30.0
    """Bound on one attempt (connect, send, answer)."""

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1


def _retry_after(response: httpx2.Response, cap: float) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(cap, seconds))


def _reason(answer: bytes) -> str | None:
    """The `error` an asyncmcp receiver puts in a refusal's JSON body, if it is one."""
    try:
        payload: object = json.loads(answer)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    reason = cast("dict[str, object]", payload).get("error")
    return str(reason)[:500] if reason else None


class WebhookSender:
    """POSTs frames to URLs, signed, checked by `policy`, retried on `schedule`. Use as `async with`."""

    def __init__(
        self,
        signer: Signer,
        policy: EgressPolicy,
        *,
        schedule: RetrySchedule | None = None,
        per_destination: int = 4,
        max_frame_bytes: int = 1_048_576,
        explain_refusals: bool = False,
    ) -> None:
        self.signer = signer
        self.explain_refusals = explain_refusals
        self.policy = policy
        self.schedule = schedule or RetrySchedule()
        self.max_frame_bytes = max_frame_bytes
        self._per_destination = per_destination
        self._lanes: dict[str, anyio.Semaphore] = {}
        self._client: httpx2.AsyncClient | None = None
        self.calls: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    async def __aenter__(self) -> WebhookSender:
        self._client = httpx2.AsyncClient(
            transport=PinnedTransport(self.policy),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx2.Timeout(self.schedule.timeout_seconds, connect=min(5.0, self.schedule.timeout_seconds)),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _lane(self, url: str) -> anyio.Semaphore:
        parts = urlsplit(url)
        destination = f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"
        lane = self._lanes.get(destination)
        if lane is None:
            lane = self._lanes[destination] = anyio.Semaphore(self._per_destination)
        return lane

    async def send(self, url: str, frame: Frame, *, webhook_id: str | None = None) -> None:
        """Deliver `frame` to `url`; raises `ChannelError` (permanent) when it cannot be delivered."""
        if self._client is None:
            raise RuntimeError("WebhookSender used outside `async with`")
        body = frame.body.encode()
        if len(body) > self.max_frame_bytes:
            raise FrameTooLargeError(size=len(body), limit=self.max_frame_bytes, address=url)
        delivery_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        async with self._lane(url):
            await self._attempts(url, body, frame.attributes, delivery_id)

    async def _attempts(self, url: str, body: bytes, attributes: Mapping[str, str], delivery_id: str) -> None:
        assert self._client is not None
        schedule = self.schedule
        answered_once = False
        last = "no attempt"
        for attempt in range(schedule.attempts):
            headers = {
                "content-type": "application/json",
                **attributes,
                **self.signer.sign(delivery_id, body).as_dict(),
            }
            self.calls["POST"] += 1
            pause: float | None = schedule.delays[attempt] if attempt < len(schedule.delays) else None
            try:
                async with self._client.stream("POST", url, content=body, headers=headers) as response:
                    answer = bytearray()
                    async for chunk in response.aiter_bytes():
                        answer += chunk
                        if len(answer) >= MAX_RESPONSE_BYTES:
                            break
            except EgressRefused as exc:
                self.stats["refused"] += 1
                raise ChannelError(
                    f"webhook URL refused: {exc}", address=url, code="EgressRefused", permanent=True
                ) from None
            except httpx2.HTTPError as exc:
                last = f"{type(exc).__name__}"
            else:
                answered_once = True
                status = response.status_code
                if 200 <= status < 300:
                    self.stats["delivered"] += 1
                    return
                last = f"HTTP {status}"
                if status == 413:
                    raise FrameTooLargeError(size=len(body), limit=len(body) - 1, address=url)
                if status not in RETRYABLE_STATUS:
                    self.stats["refused"] += 1
                    kind = "redirect (not followed)" if 300 <= status < 400 else "refusal"
                    said = _reason(bytes(answer)) if self.explain_refusals else None
                    detail = f"{said}{SIGNATURE_HINT if status == 401 else ''}" if said else f"a {kind}"
                    raise ChannelError(
                        f"webhook {url} answered {status}: {detail}; not retried", address=url, code=str(status),
                        permanent=True,
                    )  # fmt: skip
                hinted = _retry_after(response, schedule.max_retry_after)
                if hinted is not None and pause is not None:
                    pause = max(pause, hinted)
            if pause is None:
                break
            logger.debug("webhook delivery %s to %s failed (%s); retrying in %.1f s", delivery_id, url, last, pause)
            await anyio.sleep(pause)
        self.stats["undelivered"] += 1
        message = f"webhook {url} could not be delivered after {schedule.attempts} attempts (last: {last})"
        if not answered_once:
            raise AddressNotFoundError(message, address=url, code="Unreachable")
        raise ChannelError(message, address=url, code="DeliveryFailed", permanent=True)
