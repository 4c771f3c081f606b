"""Encryption at rest for what a task carries: AES-256-GCM under a key derived from the fleet key.

A task's result, error, input requests and the client's answers are the client's data; the store
(a DynamoDB table, its backups, whoever may read them) sees only ciphertext. The key is derived
from the fleet's state key (`server/state_key.py`), which every worker of a fleet already shares,
so any worker opens what another sealed, and nothing new has to be distributed. The task id and
its owner are the associated data: a sealed payload moved to another record does not open.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SealingError", "TaskSealer"]

NONCE_BYTES: Final = 12
"""GCM's standard nonce size; random per write (a task is written a few dozen times at most)."""

_VERSION: Final = b"\x01"
"""Leads every sealed payload, so a later format can be told apart."""


class SealingError(Exception):
    """A sealed payload did not open: another fleet's key, or tampered with."""


class TaskSealer:
    """Seals and opens task payloads with a key derived from `secret` (the fleet's state key)."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(b"asyncmcp tasks v1\x00" + secret).digest())
        self.hmac_key = hashlib.sha256(b"asyncmcp task owners v1\x00" + secret).digest()
        """Key for the keyed hashes of owners and request keys kept in the clear."""

    def seal(self, payload: dict[str, Any], task_id: str, principal: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        data = json.dumps(payload, separators=(",", ":")).encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, data, _associated(task_id, principal))

    def open(self, sealed: bytes, task_id: str, principal: str) -> dict[str, Any]:
        if not sealed.startswith(_VERSION):
            raise SealingError("unknown sealed payload format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            data = self._aead.decrypt(nonce, body, _associated(task_id, principal))
        except InvalidTag as exc:
            raise SealingError("the task's payload does not open with this fleet's key") from exc
        loaded: dict[str, Any] = json.loads(data)
        return loaded


def _associated(task_id: str, principal: str) -> bytes:
    return f"{task_id}\x00{principal}".encode()
