"""Stateless 2025-era sessions: the session id *is* the session, signed by the workers' shared key.

A 2025-11-25 client opens a session with `initialize` and then sends requests that may land on
any worker. Rather than share a session store, the server mints a token that carries what a
worker needs to serve the session's later requests on a born-ready connection (negotiated
protocol version, client info and capabilities, reply address, owning client id), plus a random
nonce, signed with HMAC-SHA256. Any worker holding the same key can verify it; nobody can forge
one or move another client's session to their own reply address; and a worker restart loses
nothing.

The token travels as an attribute on every request of the session, so it is kept small: at most
`MAX_SESSION_ID_CHARS`. When a client's capabilities and info would not fit, they are trimmed to
their structure (capability names and boolean flags, the client's name, title and version); when
even that does not fit, `mint` refuses (`SessionTooLargeError`) and the engine answers `initialize`
with an error instead of a session id that receivers would drop. Tokens expire `ttl_seconds` after
they were minted (`iat`): a leaked id is not good forever, and a client is told to initialize anew.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from asyncmcp.channels.config import DEFAULT_SESSION_TTL_SECONDS
from asyncmcp.codec import as_mapping

__all__ = [
    "DEFAULT_SESSION_TTL_SECONDS",
    "MAX_SESSION_ID_CHARS",
    "InvalidSessionError",
    "LegacySession",
    "SessionSigner",
    "SessionTooLargeError",
]

TOKEN_PREFIX = "s1."

MAX_SESSION_ID_CHARS = 4096
"""Longest session id minted: half of what receivers accept in an attribute (codec.MAX_ATTRIBUTE_VALUE,
8,192), since the id rides on every request of the session and counts against its size and bill."""

_KEPT_CLIENT_INFO = ("name", "title", "version")
"""What of `clientInfo` survives trimming: what servers log and show."""


class InvalidSessionError(ValueError):
    """The session id was not minted with this key (another deployment, a rotated key) or has expired."""


class SessionTooLargeError(ValueError):
    """A client's `initialize` holds more than a session id can carry, even trimmed."""


@dataclass(frozen=True)
class LegacySession:
    protocol_version: str
    client_id: str | None
    reply_to: str | None
    client_info: dict[str, Any] | None
    capabilities: dict[str, Any] | None

    def trimmed(self) -> LegacySession:
        """The same session with client info and capabilities cut down to their structure."""
        info = self.client_info
        kept_info = {k: v for k, v in info.items() if k in _KEPT_CLIENT_INFO} if info is not None else None
        return replace(self, client_info=kept_info, capabilities=_structure(self.capabilities))


def _structure(capabilities: dict[str, Any] | None) -> dict[str, Any] | None:
    """Capability names two levels deep, with boolean flags (`roots.listChanged`) kept and every other
    value emptied: what the SDK's capability checks look at (`elicitation.form`, `sampling.tools`)."""
    if capabilities is None:
        return None
    out: dict[str, Any] = {}
    for name, value in capabilities.items():
        inner = as_mapping(value)
        if inner is None:
            out[name] = value if isinstance(value, bool) else {}
        else:
            out[name] = {key: flag if isinstance(flag, bool) else {} for key, flag in inner.items()}
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Mints and verifies session tokens with one secret key."""

    def __init__(self, key: bytes, *, ttl_seconds: float | None = DEFAULT_SESSION_TTL_SECONDS) -> None:
        self._key = hashlib.sha256(b"asyncmcp session v1\x00" + key).digest()
        self.ttl_seconds = ttl_seconds
        """Seconds a token verifies after it was minted; None: forever."""

    def mint(self, session: LegacySession) -> str:
        """A token for `session`, trimmed when needed to fit `MAX_SESSION_ID_CHARS`."""
        token = self._encode(session)
        if len(token) > MAX_SESSION_ID_CHARS:
            token = self._encode(session.trimmed())
        if len(token) > MAX_SESSION_ID_CHARS:
            raise SessionTooLargeError(
                f"the client's capabilities and clientInfo need a {len(token)}-character session id even "
                f"trimmed to their names, more than the {MAX_SESSION_ID_CHARS} asyncmcp carries; declare "
                "fewer (experimental) capabilities"
            )
        return token

    def _encode(self, session: LegacySession) -> str:
        claims = {**asdict(session), "nonce": secrets.token_hex(16), "iat": int(time.time())}
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}"

    def verify(self, token: str) -> LegacySession:
        if not token.isascii() or not token.startswith(TOKEN_PREFIX) or token.count(".") != 2:
            raise InvalidSessionError("not an asyncmcp session id")
        payload, signature = token[len(TOKEN_PREFIX) :].split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidSessionError("session id signature does not match this server's state key")
        try:
            claims = json.loads(_unb64(payload))
            issued = claims["iat"]
            if not isinstance(issued, int) or isinstance(issued, bool):
                raise TypeError("iat")
            if self.ttl_seconds is not None and time.time() - issued > self.ttl_seconds:
                raise InvalidSessionError(f"session id expired: it is older than {self.ttl_seconds:g} s")
            return LegacySession(
                protocol_version=str(claims["protocol_version"]),
                client_id=claims.get("client_id"),
                reply_to=claims.get("reply_to"),
                client_info=claims.get("client_info"),
                capabilities=claims.get("capabilities"),
            )
        except InvalidSessionError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSessionError("malformed session id") from exc

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
