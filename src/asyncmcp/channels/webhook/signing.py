"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

The signed content is `<id>.<timestamp>.<body>` over the raw body bytes exactly as sent (never
re-serialized JSON), HMAC-SHA256 with a `whsec_` secret, sent as `v1,<base64>`. A header may carry
several signatures separated by spaces, so a secret can be rotated with no downtime: the sender
signs with every secret it holds, the receiver accepts any signature made with any secret it
holds. Verification compares in constant time and refuses a timestamp outside the tolerance
(5 minutes by default, either direction). Every malformed input raises the one `SignatureError`,
whose message is the reason a receiver puts in its 401.

This is our own small implementation (bytes in, bytes out, configurable tolerance, one error
type); the `standardwebhooks` package is used only as an oracle in the tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "SECRET_PREFIX",
    "TOLERANCE_SECONDS",
    "SignatureError",
    "Signer",
    "generate_secret",
]

SECRET_PREFIX = "whsec_"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

TOLERANCE_SECONDS = 300
"""How far a signed timestamp may be from the receiver's clock (replay window), either direction."""

MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
"""Standard Webhooks secrets are 24 to 64 random bytes."""


class SignatureError(ValueError):
    """A webhook's signature headers are missing, malformed, stale, or signed with another secret."""


def generate_secret() -> str:
    """A new `whsec_` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _decode_secret(secret: str) -> bytes:
    text = secret.removeprefix(SECRET_PREFIX).strip()
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook signing secret must be whsec_ followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook signing secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes "
            f"(got {len(key)}); asyncmcp.webhook.generate_secret() makes one"
        )
    return key


@dataclass(frozen=True)
class SignedHeaders:
    """The three headers of a signed delivery."""

    webhook_id: str
    timestamp: int
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {HEADER_ID: self.webhook_id, HEADER_TIMESTAMP: str(self.timestamp), HEADER_SIGNATURE: self.signature}


class Signer:
    """Signs with every secret it holds (for rotation) and verifies against any of them."""

    def __init__(self, secrets_: Sequence[str], *, tolerance_seconds: int = TOLERANCE_SECONDS) -> None:
        if not secrets_:
            raise ValueError("webhooks need a signing secret; asyncmcp.webhook.generate_secret() makes one")
        self._keys = [_decode_secret(secret) for secret in secrets_]
        self.tolerance = tolerance_seconds

    def _sign_with(self, key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
        content = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
        return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()

    def sign(self, webhook_id: str, body: bytes, *, timestamp: int | None = None) -> SignedHeaders:
        """The headers for one attempt of a delivery (a retry signs again with a fresh timestamp)."""
        if "." in webhook_id or not webhook_id:
            raise ValueError("a webhook id must be non-empty and contain no '.'")
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = " ".join(self._sign_with(key, webhook_id, stamp, body) for key in self._keys)
        return SignedHeaders(webhook_id, stamp, signature)

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> SignedHeaders:
        """Check a delivery's signature headers (keys lower-case); raises `SignatureError` with the reason."""
        webhook_id = headers.get(HEADER_ID, "")
        stamp_text = headers.get(HEADER_TIMESTAMP, "")
        presented = headers.get(HEADER_SIGNATURE, "")
        if not webhook_id or not stamp_text or not presented:
            raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
        if "." in webhook_id:
            raise SignatureError("malformed webhook-id")
        try:
            stamp = int(stamp_text)
        except ValueError:
            raise SignatureError("malformed webhook-timestamp") from None
        current = time.time() if now is None else now
        if abs(current - stamp) > self.tolerance:
            raise SignatureError(f"webhook-timestamp is more than {self.tolerance} s from this receiver's clock")
        expected = [self._sign_with(key, webhook_id, stamp, body).encode() for key in self._keys]
        for token in presented.split(" "):
            version, _, value = token.partition(",")
            if version != "v1" or not value:
                continue  # another scheme (v1a) or junk: look at the next one
            candidate = token.encode()
            matched = False
            for each in expected:  # all of them, so the time taken says nothing about which secret matched
                matched |= hmac.compare_digest(candidate, each)
            if matched:
                return SignedHeaders(webhook_id, stamp, presented)
        raise SignatureError("no webhook-signature matches this receiver's secrets")
