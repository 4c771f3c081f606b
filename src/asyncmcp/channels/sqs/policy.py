"""Which reply queues an SQS server may send to.

A client names its reply queue in every request, so without a rule a server would send wherever
it is told: to any queue its IAM role can reach (a confused deputy). The default allows only
queues of the request queue's own account and region, judged by comparing the endpoint host and
the account segment of the URL. Real SQS URLs carry the region in the host
(`sqs.us-east-1.amazonaws.com`), so equal hosts mean equal regions; local endpoints use one host
for everything, which is what they emulate.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from urllib.parse import urlsplit

__all__ = ["SqsReplyPolicy"]


def _origin(url: str) -> tuple[str, str, str] | None:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) != 2:
        return None
    return parts.scheme, parts.netloc.lower(), segments[0]


class SqsReplyPolicy:
    """Allows reply queues matching `patterns` (globs), or by default the request queue's account and region."""

    def __init__(self, request_queue_url: str, patterns: tuple[str, ...] | None = None) -> None:
        self._request_origin = _origin(request_queue_url)
        self._patterns = patterns

    def allows(self, address: str) -> bool:
        if self._patterns is not None:
            return any(fnmatchcase(address, pattern) for pattern in self._patterns)
        origin = _origin(address)
        return origin is not None and origin == self._request_origin

    def describe(self) -> str:
        if self._patterns is not None:
            return f"reply queues matching {list(self._patterns)} (allowed_reply_queues)"
        if self._request_origin is None:
            return "no reply queue (the request queue URL has no account segment; set allowed_reply_queues)"
        scheme, host, account = self._request_origin
        return f"reply queues under {scheme}://{host}/{account}/ (same account and region as the request queue)"
