"""Configuration of the webhook channel, with the names of the earlier asyncmcp implementation.

A server takes clients' requests as signed POSTs (it serves them on `host:port` + `path`, or is
mounted into an app) and answers by POSTing to each client's webhook URL; a client POSTs to
`server_url` and receives at `webhook_url` (its own receiver on 127.0.0.1 by default). Both sides
sign and verify with the same Standard Webhooks secrets (`whsec_...`; several for rotation: every
POST carries one signature per secret, and a POST is taken when any of its signatures was made
with any secret the receiver holds). Secrets default to the ASYNCMCP_WEBHOOK_SECRETS environment variable
(comma-separated), so they stay out of code and command lines.
"""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from asyncmcp.channels.config import FROZEN, ClientSettings, ServerSettings
from asyncmcp.channels.webhook.signing import Signer

__all__ = [
    "SECRETS_ENV",
    "EgressSettings",
    "HttpServerSettings",
    "ReceiverSettings",
    "ServerUrlSettings",
    "SignedSettings",
    "WebhookClientConfig",
    "WebhookServerConfig",
    "check_http_url",
    "check_path",
    "secrets_from_environment",
]

SECRETS_ENV = "ASYNCMCP_WEBHOOK_SECRETS"

DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Pauses before each retry of a delivery: about 50 s of trying before it fails for good."""


def secrets_from_environment() -> tuple[str, ...]:
    value = os.environ.get(SECRETS_ENV, "")
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check_secrets(values: tuple[str, ...]) -> tuple[str, ...]:
    secrets = values or secrets_from_environment()
    if not secrets:
        raise ValueError(
            f"webhooks are signed: give signing_secrets (or set {SECRETS_ENV}); `asyncmcp secret` prints a new one"
        )
    Signer(secrets)  # every one must be a valid whsec_ secret
    return secrets


def check_http_url(value: str, field_name: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{field_name} must be an http(s) URL such as https://mcp.example.com/mcp (got {value!r})")
    return value


def check_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path must start with '/' (got {value!r})")
    return value


class HttpServerSettings(BaseModel):
    """Where a server that takes HTTP listens: its own server on `host:port`, or mounted (`port` None)."""

    model_config = FROZEN

    host: str = "127.0.0.1"
    """Address its own HTTP server binds (`asyncmcp serve`)."""
    port: int | None = Field(default=None, ge=0, le=65535)
    """Port its own HTTP server listens on (0: a free one). None: no server of its own; mount the app
    into yours."""
    path: str = "/mcp"
    """Where requests arrive."""
    public_url: str | None = None
    """The URL clients use, as they see it (behind a load balancer); used in logs and facts."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path(value)

    @property
    def request_address(self) -> str:
        if self.public_url:
            return self.public_url
        return f"http://{self.host}:{self.port if self.port is not None else 0}{self.path}"


class ServerUrlSettings(BaseModel):
    """The URL a client sends its requests to."""

    model_config = FROZEN

    server_url: str
    """Where the server takes requests, e.g. https://mcp.example.com/mcp."""

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        return check_http_url(value, "server_url")

    @property
    def server_address(self) -> str:
        return self.server_url


class SignedSettings(BaseModel):
    """What both ends of a signed webhook hold: the secrets, the replay window, the size bound and how
    long one POST may take. Shared by the webhook and the Streamable HTTP + webhook configs."""

    model_config = FROZEN

    signing_secrets: tuple[str, ...] = Field(default=(), validate_default=True)
    """Standard Webhooks secrets (`whsec_...`): each signs every POST (one signature per secret) and
    each verifies (a POST is taken when any of its signatures matches any of them). Default:
    ASYNCMCP_WEBHOOK_SECRETS."""
    delivery_timeout_seconds: float = Field(default=30.0, gt=0)
    """Bound on one POST attempt."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest body taken, and largest sent."""
    tolerance_seconds: int = Field(default=300, ge=1)
    """How far a signed timestamp may be from this side's clock."""

    @field_validator("signing_secrets")
    @classmethod
    def _secrets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_secrets(value)


class EgressSettings(BaseModel):
    """Where a server may POST to client-named webhook URLs (the SSRF rules), and how it retries."""

    model_config = FROZEN

    allowed_webhook_urls: tuple[str, ...] | None = None
    """URL globs answers may be POSTed to. None: any public https URL (after the SSRF checks)."""
    allow_loopback: bool = False
    """Allow webhook URLs on 127.0.0.1 / ::1 (and plain http to them): local development and tests only."""
    allow_http: bool = False
    """Allow plain-http webhook URLs to public addresses."""
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS


class ReceiverSettings(BaseModel):
    """Where a client receives webhooks: its own receiver on 127.0.0.1, or mounted into an app."""

    model_config = FROZEN

    webhook_url: str | None = None
    """This client's public webhook URL (named to the server in every request and in `initialize`
    `_meta.webhookUrl`), when its receiver is mounted into an app that URL reaches. None: the
    client runs its own receiver on `receiver_host` and an ephemeral port."""
    receiver_host: str = "127.0.0.1"
    receiver_port: int = Field(default=0, ge=0, le=65535)
    receiver_path: str = "/webhook"

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, "webhook_url")

    @field_validator("receiver_path")
    @classmethod
    def _receiver_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"receiver_path must start with '/' (got {value!r})")
        return value


class WebhookServerConfig(HttpServerSettings, ServerSettings, SignedSettings, EgressSettings):
    """A server taking requests as signed POSTs and answering at each client's webhook URL."""

    transport: ClassVar[str] = "webhook"

    queue_url: str | None = None
    """An SQS queue the ingress puts each request on before answering 202, and the engine serves from:
    requests survive a server crash (at-least-once). None: requests live in memory until served."""
    visibility_timeout_seconds: int = Field(default=30, ge=1, le=43200)
    """With `queue_url`: how long a request taken from the queue stays hidden from other workers
    while its worker lives (it is extended as the request runs); a dead worker's requests come back
    after it."""


class WebhookClientConfig(ServerUrlSettings, ClientSettings, SignedSettings, ReceiverSettings):
    """A client POSTing requests to `server_url` and receiving results at `webhook_url`."""

    transport: ClassVar[str] = "webhook"

    retry_delays: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    """Pauses before each retry of a request POST (the server down, 429, 5xx)."""
