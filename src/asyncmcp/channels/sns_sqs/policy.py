"""Which reply topics an SNS+SQS server may publish to.

A client names its reply topic in every request, so without a rule a server would publish
wherever it is told: to any topic its IAM role can reach. The default allows only topics of the
server queue's own account and region. The account is the queue URL's first path segment; the
region is read from an AWS queue URL's host (`sqs.us-east-1.amazonaws.com`), or, for a local
endpoint whose URLs name none, is the region the server's AWS clients use.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from asyncmcp.channels.sns_sqs.config import parse_topic_arn

__all__ = ["SnsReplyPolicy", "queue_account_and_region"]

_AWS_HOST_REGION = re.compile(r"^(?:sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com)$")


def queue_account_and_region(queue_url: str, fallback_region: str | None) -> tuple[str | None, str | None]:
    """(account, region) of an SQS queue URL; the region falls back for hosts that name none."""
    parts = urlsplit(queue_url)
    segments = [s for s in parts.path.split("/") if s]
    account = segments[0] if len(segments) == 2 and segments[0].isdigit() else None
    match = _AWS_HOST_REGION.match((parts.hostname or "").lower())
    region = (match.group(1) or match.group(2)) if match else fallback_region
    return account, region


class SnsReplyPolicy:
    """Allows reply topics matching `patterns` (globs), or by default the queue's account and region."""

    def __init__(self, queue_url: str, patterns: tuple[str, ...] | None = None, *, region: str | None) -> None:
        self._account, self._region = queue_account_and_region(queue_url, region)
        self._patterns = patterns

    def allows(self, address: str) -> bool:
        parsed = parse_topic_arn(address)
        if parsed is None:
            return False
        if self._patterns is not None:
            return any(fnmatchcase(address, pattern) for pattern in self._patterns)
        _, region, account, _ = parsed
        return self._account is not None and (account, region) == (self._account, self._region)

    def describe(self) -> str:
        if self._patterns is not None:
            return f"reply topics matching {list(self._patterns)} (allowed_reply_topics)"
        if self._account is None:
            return "no reply topic (the queue URL has no account segment; set allowed_reply_topics)"
        return f"reply topics of account {self._account} in {self._region} (the queue's account and region)"
