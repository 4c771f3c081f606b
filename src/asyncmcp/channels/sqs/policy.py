"""Which reply queues an SQS server may send to.

A client names its reply queue in every request, so without a rule a server would send wherever
it is told: to any queue its IAM role can reach (a confused deputy). The rule must judge the queue
the broker will actually use, so only a *plain* queue URL is judged at all:
`scheme://host[:port]/<account>/<queue name>`, nothing more. Anything else (a `?query`, a
`#fragment`, userinfo, percent-escapes, a port that is not a number, a third path segment, a
trailing slash) is refused: brokers and their emulators read the queue from such URLs in ways that
differ from how a URL parser reads them (moto takes whatever follows the last `/`, so
`.../123456789012/allowed?x=/victim` reaches `victim`).

The default allows only queues of the request queue's own account and region, judged by comparing
the endpoint (scheme, host in lowercase, port) and the account segment. Real SQS URLs carry the
region in the host (`sqs.us-east-1.amazonaws.com`), so equal hosts mean equal regions; local
endpoints use one host for everything, which is what they emulate. Configured patterns are globs
over the URL (host in lowercase, default port left out) in which `*` and `?` never match `/`, `?`
or `#`, so a wildcard stays inside the URL part it is written in. The request queue itself is never
a reply queue, however it is spelled.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["SqsReplyPolicy", "plain_queue_url"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
"""An account id or a queue name: SQS names are 1-80 of these characters (a FIFO queue adds `.fifo`);
accounts are 12 digits on AWS and short words on some local endpoints."""

_NETLOC = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def plain_queue_url(url: str) -> str | None:
    """`url` in canonical form (host in lowercase, no default port) when it is a plain queue URL
    (`scheme://host[:port]/account/name` and nothing else), else None."""
    if any(character in url for character in "?#@%\\") or url != url.strip():
        return None
    parts = urlsplit(url)
    netloc = _NETLOC.match(parts.netloc)
    if parts.scheme not in _DEFAULT_PORTS or netloc is None:
        return None
    segments = parts.path.split("/")
    if len(segments) != 3 or segments[0] or not all(_SEGMENT.match(s) for s in segments[1:]):
        return None
    host, port = netloc.group("host").lower(), netloc.group("port")
    if port is not None and not 0 < int(port) < 65536:
        return None
    shown_port = "" if port is None or int(port) == _DEFAULT_PORTS[parts.scheme] else f":{int(port)}"
    return f"{parts.scheme}://{host}{shown_port}{parts.path}"


def _glob(pattern: str) -> re.Pattern[str]:
    """A glob in which `*` and `?` match within one URL part (never `/`, `?` or `#`)."""
    parts = (
        "[^/?#]*" if character == "*" else "[^/?#]" if character == "?" else re.escape(character)
        for character in pattern
    )
    return re.compile("".join(parts))


class SqsReplyPolicy:
    """Allows plain reply queue URLs matching `patterns` (globs), or by default the request queue's
    account and region; never the request queue itself."""

    def __init__(self, request_queue_url: str, patterns: tuple[str, ...] | None = None) -> None:
        self._request = plain_queue_url(request_queue_url)
        self._patterns = patterns
        self._globs = tuple(_glob(pattern) for pattern in patterns) if patterns is not None else None

    def allows(self, address: str) -> bool:
        queue = plain_queue_url(address)
        if queue is None or queue == self._request:
            return False
        if self._globs is not None:
            return any(glob.fullmatch(queue) for glob in self._globs)
        return self._request is not None and _account_root(queue) == _account_root(self._request)

    def describe(self) -> str:
        if self._patterns is not None:
            return f"plain queue URLs matching {list(self._patterns)} (allowed_reply_queues)"
        if self._request is None:
            return "no reply queue (the request queue URL has no account segment; set allowed_reply_queues)"
        return f"plain queue URLs under {_account_root(self._request)} (same account and region as the request queue)"


def _account_root(queue: str) -> str:
    """`scheme://host[:port]/account/` of a canonical queue URL."""
    return queue[: queue.rindex("/") + 1]
