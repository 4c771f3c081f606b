"""Answers a server lets its clients keep (SEP-2549 `ttlMs`): its tool listing and its
`server/discover`, shared by the connections of a process opened from equal configs.

Two of a new connection's messages ask what the previous connection of the same config already
asked. mcp's `Client` opens with `server/discover`, a whole broker round trip before its first call;
and its `ClientSession` lists the tools after the first call of each tool it has not listed, to
check the result against the tool's output schema (that listing is sent beside the call,
`client/transport.py`). When the server says how long an answer stays fresh (`ttlMs` on the result,
which an SDK server sets with `MCPServer(cache_hints={"server/discover": CacheHint(ttl_ms=...),
"tools/list": ...})`), the answer one connection got stands in for the next connection's until then:
its client transport answers its discover, and its first call travels alone.

Kept only for connections from equal configs (`config_keys.py`): one server reached with one set
of credentials, one authorization context, which is as far as SEP-2549 lets even a `"private"`
result be reused. Within a config, keyed by what the request asks (`answer_key`: its method,
protocol version and the protocol's `_meta` fields). What keeps it exact:

- only 2026-07-28 answers (the era that defines the hint: a 2025-11-25 peer's `ttlMs` means
  nothing, and its listings may belong to its session), and none asked with `_meta` of the
  caller's own (the SDK's response cache also sends those to the server);
- the server's word, capped at the SDK client's own bound (`MAX_TTL_MS`, a day); a page of
  several is not kept, since only a whole listing shows that a tool is missing from it;
- a `notifications/tools/list_changed` that reaches any of the connections forgets what the config
  kept, and an answer asked for before it is not kept when it comes after (`KeptAnswers.generation`);
- a kept answer is served with `ttlMs` lowered to what is left of it, so a cache behind the
  session (the SDK client's) does not count its freshness from the start again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

from mcp.client.caching import MAX_TTL_MS
from mcp_types import JSONRPCResponse
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from asyncmcp.channels.config import ClientSettings
from asyncmcp.client.config_keys import settings_key
from asyncmcp.expiring import BoundedDict

__all__ = [
    "KEPT_METHODS",
    "MAX_ANSWERS_PER_CONFIG",
    "MAX_CONFIGS",
    "AnswerKey",
    "KeptAnswers",
    "answer_key",
    "kept_answers",
]

logger = logging.getLogger(__name__)

KEPT_METHODS = frozenset({"server/discover", "tools/list"})
"""What a new connection asks that an earlier one of its config may have been let keep."""

MAX_CONFIGS = 256
"""Configs whose answers a process keeps; the one used longest ago is forgotten first."""

MAX_ANSWERS_PER_CONFIG = 16
"""Answers kept per config (one per method, protocol version and client the connections ask as)."""

PROTOCOL_META_PREFIX = "io.modelcontextprotocol/"
"""The `_meta` fields the protocol defines per request (version, client info and capabilities,
log level): a request asked with other values is another request."""

TRACE_META_KEYS = frozenset({"traceparent", "tracestate", "baggage"})
"""`_meta` fields that differ on every request (trace context) and say nothing about the answer."""


class AnswerKey(NamedTuple):
    """What a kept answer was asked with: another request (another method, version or client) is
    answered by the server."""

    method: str
    protocol_version: str
    meta: str
    """The protocol's `_meta` fields of the request, as canonical JSON."""


def answer_key(method: str, protocol_version: str | None, meta: Mapping[str, Any]) -> AnswerKey | None:
    """What the answer to a `method` request asked with `meta` (a listing sent ahead: the call's,
    less `progressToken`) under `protocol_version` is kept under; None when it may not be kept
    (see the module docstring)."""
    if method not in KEPT_METHODS or protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return None
    asked: dict[str, Any] = {}
    for name, value in meta.items():
        if name.startswith(PROTOCOL_META_PREFIX):
            asked[name] = value
        elif name not in TRACE_META_KEYS:
            return None  # the caller's own `_meta`: the server may answer it differently
    return AnswerKey(method, protocol_version, json.dumps(asked, sort_keys=True, default=repr))


class KeptAnswers:
    """The kept answers of one config, each until its server's `ttlMs` runs out."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: BoundedDict[Hashable, tuple[JSONRPCResponse, float]] = BoundedDict(MAX_ANSWERS_PER_CONFIG)
        self.generation = 0
        """Moves on each `forget()`: a request sent before then is not kept when its answer arrives."""

    def fresh(self, key: Hashable) -> tuple[JSONRPCResponse, float] | None:
        """A copy of the answer kept under `key` with `ttlMs` set to what is left of it, and the
        seconds left; None when nothing fresh is kept there."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        answer, expires = kept
        left = expires - self._clock()
        if left <= 0:
            del self._kept[key]
            return None
        served = answer.model_copy(deep=True)
        served.result["ttlMs"] = max(1, int(left * 1000))
        return served, left

    def keep(self, key: Hashable, answer: JSONRPCResponse, generation: int) -> None:
        """Keep (a copy of) `answer` under `key` for as long as its `ttlMs` says, when it says so, is
        whole (no `nextCursor`), and was asked for at `generation` (no `list_changed` since)."""
        if generation != self.generation:
            return
        ttl_ms = answer.result.get("ttlMs")
        if not isinstance(ttl_ms, int | float) or isinstance(ttl_ms, bool) or not math.isfinite(ttl_ms):
            return
        if ttl_ms <= 0 or answer.result.get("nextCursor") is not None:
            return
        now = self._clock()
        for stale in [name for name, (_, expires) in self._kept.items() if expires <= now]:
            del self._kept[stale]
        seconds = min(ttl_ms, MAX_TTL_MS) / 1000
        self._kept[key] = (answer.model_copy(deep=True), now + seconds)
        method = key.method if isinstance(key, AnswerKey) else "an answer"
        logger.debug("keeping %s for %g s, as its server allows (ttlMs)", method, seconds)

    def forget(self) -> None:
        """The server said its tools changed: nothing kept stands for it any more (its discover goes
        too: it is rare, and the next connection only asks again)."""
        if self._kept:
            logger.debug("forgetting %d kept answer(s): the server's tools changed", len(self._kept))
        self._kept.clear()
        self.generation += 1


_KEPT: BoundedDict[Hashable, KeptAnswers] = BoundedDict(MAX_CONFIGS)


def kept_answers(config: ClientSettings) -> KeptAnswers | None:
    """The answers kept for connections from configs equal to `config` (`config_keys.settings_key`);
    None when the config cannot be compared by value (nothing is shared).

    A config pushed out by `MAX_CONFIGS` others keeps its object for the connections that hold it;
    later connections start a new one."""
    key = settings_key(config)
    if key is None:
        return None
    kept = _KEPT.pop(key, None) or KeptAnswers()
    _KEPT[key] = kept  # most recently used last: the bound forgets the others first
    return kept
