"""Stateless 2025-era sessions: the session id *is* the session, signed by the workers' shared key.

A 2025-11-25 client opens a session with `initialize` and then sends requests that may land on
any worker. Rather than share a session store, the server mints a token that carries what a
worker needs to serve the session's later requests on a born-ready connection (negotiated
protocol version, client info and capabilities, reply address, owning client id), plus a random
nonce, signed with HMAC-SHA256. Any worker holding the same key can verify it; nobody can forge
one or move another client's session to their own reply address; and a worker restart loses
nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["InvalidSessionError", "LegacySession", "SessionSigner"]

TOKEN_PREFIX = "s1."


class InvalidSessionError(ValueError):
    """The session id was not minted with this key (another deployment, or a rotated key)."""


@dataclass(frozen=True)
class LegacySession:
    protocol_version: str
    client_id: str | None
    reply_to: str | None
    client_info: dict[str, Any] | None
    capabilities: dict[str, Any] | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Mints and verifies session tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"asyncmcp session v1\x00" + key).digest()

    def mint(self, session: LegacySession) -> str:
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
            return LegacySession(
                protocol_version=str(claims["protocol_version"]),
                client_id=claims.get("client_id"),
                reply_to=claims.get("reply_to"),
                client_info=claims.get("client_info"),
                capabilities=claims.get("capabilities"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSessionError("malformed session id") from exc

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
