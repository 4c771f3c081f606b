"""The webhook calls a server knows: running ones, and the answers of finished ones, kept a while.

A call is keyed by who asked (the 2025 session id, or the client id and webhook URL of a 2026
client) and its JSON-RPC id. While it runs, a resend of the same request (or a fetch,
`asyncmcp-fetch: result`) is answered 202 again, so the tool never runs twice; once it finished,
its answer is served inline to a resend or a fetch, so an answer whose webhook never got through
is not lost. Answers are kept `ttl_seconds` after they finished and at most `max_kept` of them
(the oldest finished go first); running calls are never dropped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import anyio

__all__ = ["CallKey", "WebhookCall", "WebhookCalls"]

CallKey = tuple[str, str, str]
"""(who: session id or client id, webhook URL, JSON-RPC id as JSON text)."""


@dataclass
class WebhookCall:
    """One call answered by webhook: its cancel scope while it runs, then its answer."""

    key: CallKey
    webhook_url: str
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    answer: str | None = None
    """The JSON-RPC answer exactly as the SDK wrote it, once the call finished."""
    delivered: bool = False
    finished_at: float | None = None

    def finish(self, answer: str | None) -> None:
        self.answer = answer
        self.finished_at = time.monotonic()


class WebhookCalls:
    """Running calls and kept answers, bounded by count and age.

    Every `tools/call` a hybrid client makes looks its key up here, inline ones too, so a lookup
    costs the same however many answers are kept: finished calls sit in a queue of their own, in
    the order they finished, and expiring them only ever looks at its oldest end.
    """

    def __init__(self, *, ttl_seconds: float, max_kept: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_kept = max_kept
        self._calls: dict[CallKey, WebhookCall] = {}
        self._kept: OrderedDict[CallKey, WebhookCall] = OrderedDict()
        """The finished calls of `_calls` whose answer is kept, oldest first."""

    def get(self, key: CallKey) -> WebhookCall | None:
        self._expire()
        return self._calls.get(key)

    def start(self, key: CallKey, webhook_url: str) -> WebhookCall:
        call = WebhookCall(key, webhook_url)
        self._calls[key] = call
        return call

    def finished(self, call: WebhookCall, answer: str | None) -> None:
        """Keep `call`'s answer (None: it was cancelled, and nothing is kept)."""
        call.finish(answer)
        if answer is None:
            for known in (self._calls, self._kept):
                if known.get(call.key) is call:
                    del known[call.key]
            return
        self._kept[call.key] = call
        self._kept.move_to_end(call.key)
        self._expire()

    def running(self) -> list[WebhookCall]:
        return [call for call in self._calls.values() if call.finished_at is None]

    def _expire(self) -> None:
        now = time.monotonic()
        while self._kept:
            key, call = next(iter(self._kept.items()))
            finished_at = call.finished_at if call.finished_at is not None else now
            if len(self._kept) <= self.max_kept and now - finished_at <= self.ttl_seconds:
                break  # the rest finished later
            del self._kept[key]
            if self._calls.get(key) is call:
                del self._calls[key]
