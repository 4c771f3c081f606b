"""The webhook channel as a registered transport: opening it for a server or a client.

Server: the ingress (`ingress.py`) takes signed request POSTs, on its own HTTP server
(`config.port`) or mounted into an app passed as the client named `app` (`webhook_app` does this);
answers go out as signed POSTs checked by the egress policy. With `config.queue_url` the ingress
enqueues each request on SQS and the engine serves from the queue (durable). Client: requests are
POSTed to `server_url`; results arrive at a receiver of its own on 127.0.0.1 (an ephemeral port)
or mounted into an app, whose URL it names as its reply address (`mcp-reply-to`, and
`_meta.webhookUrl` on initialize).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from asyncmcp.channels.base import ChannelTransport, ClientBinding, Option, ServerBinding
from asyncmcp.channels.webhook.config import (
    EgressSettings,
    ReceiverSettings,
    SignedSettings,
    WebhookClientConfig,
    WebhookServerConfig,
)
from asyncmcp.channels.webhook.egress import EgressPolicy, EgressRefused
from asyncmcp.codec import ATTR_REPLY_TO, Frame

if TYPE_CHECKING:
    from asyncmcp.channels.webhook.delivery import WebhookSender
    from asyncmcp.channels.webhook.ingress import Sink
    from asyncmcp.channels.webhook.signing import Signer

__all__ = [
    "WEBHOOK_META_KEY",
    "WebhookReplyPolicy",
    "WebhookTransport",
    "egress_policy",
    "mount_route",
    "webhook_receiver",
    "webhook_sender",
]

WEBHOOK_META_KEY = "webhookUrl"
"""The original asyncmcp handshake for webhooks: a client's webhook URL in `initialize` `_meta`."""

INBOX_ADDRESS = "webhook-inbox"
"""What a webhook channel receives on: its ingress's inbox (each channel has exactly one). A server's
URL, as clients see it, is its binding's `endpoint`."""


class WebhookReplyPolicy:
    """Allows webhook URLs the egress policy's URL checks pass; its address checks run at delivery."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    def allows(self, address: str) -> bool:
        try:
            self._policy.check_url(address)
        except EgressRefused:
            return False
        return True

    def refusal(self, frame: Frame) -> str | None:
        """Why the ingress refuses a request at once: a reply address (`mcp-reply-to`) no answer may go to."""
        reply_to = frame.attributes.get(ATTR_REPLY_TO)
        if reply_to is None or self.allows(reply_to):
            return None
        hint = ""
        if not self._policy.allow_loopback and (urlsplit(reply_to).hostname or "") in ("127.0.0.1", "::1", "localhost"):
            hint = "; for local development start the server with --allow-loopback (allow_loopback=True)"
        return f"this server may not answer at {reply_to}: it answers only {self.describe()}{hint}"

    def describe(self) -> str:
        allowed = f"matching {list(self._policy.allowed)}" if self._policy.allowed is not None else "any public host"
        extra = ", loopback allowed" if self._policy.allow_loopback else ""
        return f"https webhook URLs, {allowed}, never private or metadata addresses{extra}"


def egress_policy(config: EgressSettings) -> EgressPolicy:
    """The SSRF rules for the client-named webhook URLs a server POSTs to."""
    return EgressPolicy(
        allowed=config.allowed_webhook_urls, allow_loopback=config.allow_loopback, allow_http=config.allow_http
    )


def mount_route(app: Any, path: str, endpoint: Any, *, methods: tuple[str, ...] | None = ("POST",)) -> None:
    """Add an ASGI endpoint to a Starlette app (or anything with a Starlette router) at `path`
    (`methods` None: every method)."""
    from starlette.routing import Route

    router = getattr(app, "router", None)
    if router is None or not hasattr(router, "routes"):
        raise TypeError(f"cannot mount a webhook route into {type(app).__name__}: pass a Starlette (or FastAPI) app")
    router.routes.append(Route(path, endpoint=endpoint, methods=list(methods) if methods is not None else None))


_SERVER_OPTIONS = (
    Option("--port", "port", "port the webhook server listens on (0: a free one)", env=("ASYNCMCP_WEBHOOK_PORT",),
           parse=int, metavar="PORT"),
    Option("--host", "host", "address to bind (default 127.0.0.1)", metavar="HOST"),
    Option("--path", "path", "where requests are POSTed (default /mcp)", metavar="PATH"),
    Option("--public-url", "public_url", "the URL clients POST to, as they see it", metavar="URL"),
    Option("--allow-webhook-url", "allowed_webhook_urls", "webhook URL glob answers may go to (repeatable)",
           repeat=True, metavar="GLOB"),
    Option("--allow-loopback", "allow_loopback", "allow webhook URLs on 127.0.0.1 (local development)", switch=True),
    Option("--allow-http", "allow_http", "allow plain-http webhook URLs", switch=True),
    Option("--queue", "queue_url", "an SQS queue URL to put requests on before answering 202 (durable)",
           env=("ASYNCMCP_WEBHOOK_QUEUE_URL",), metavar="URL"),
    Option("--visibility-timeout", "visibility_timeout_seconds",
           "with --queue: seconds a taken request stays hidden while its worker lives", parse=int, metavar="SECONDS"),
)  # fmt: skip

_CLIENT_OPTIONS = (
    Option("--server-url", "server_url", "the webhook server's request URL", env=("ASYNCMCP_WEBHOOK_SERVER_URL",),
           metavar="URL"),
    Option("--webhook-url", "webhook_url", "this side's public webhook URL (default: a receiver on 127.0.0.1)",
           metavar="URL"),
    Option("--receiver-port", "receiver_port", "port of its own receiver (default: a free one)", parse=int,
           metavar="PORT"),
)  # fmt: skip


class WebhookTransport(ChannelTransport):
    """`webhook`: requests POSTed to the server, results POSTed back to the client, both signed."""

    name = "webhook"
    summary = "HTTP webhooks: requests POSTed to the server, results POSTed back, signed, SSRF-safe"
    server_config = WebhookServerConfig
    client_config = WebhookClientConfig
    client_names = ("app", "app_url", "sqs_client")
    server_options = _SERVER_OPTIONS
    client_options = _CLIENT_OPTIONS

    @asynccontextmanager
    async def open_server(
        self, config: WebhookServerConfig, clients: Mapping[str, Any]
    ) -> AsyncIterator[ServerBinding]:
        from asyncmcp.channels.http_server import serve_asgi
        from asyncmcp.channels.webhook.channel import QueuedWebhookChannel, WebhookChannel
        from asyncmcp.channels.webhook.ingress import WebhookIngress

        policy = egress_policy(config)
        async with AsyncExitStack() as stack:
            sender = await stack.enter_async_context(webhook_sender(config, policy, config.retry_delays))
            signer = sender.signer
            channel: Any
            if config.queue_url is not None:
                from asyncmcp.channels.sqs.api import SqsApi
                from asyncmcp.channels.sqs.channel import SqsChannel

                api = await stack.enter_async_context(SqsApi(clients.get("sqs_client"), queue_url=config.queue_url))
                queue = await stack.enter_async_context(
                    SqsChannel(api, visibility_timeout_seconds=config.visibility_timeout_seconds)
                )
                await queue.learn_limits(config.queue_url)
                channel = QueuedWebhookChannel(queue, config.queue_url, sender)
                address = config.queue_url
            else:
                channel = WebhookChannel(sender, INBOX_ADDRESS)
                address = INBOX_ADDRESS
            reply_policy = WebhookReplyPolicy(policy)
            ingress = WebhookIngress(
                signer,
                channel.sink,
                path=config.path,
                max_body_bytes=config.max_body_bytes,
                refuse=reply_policy.refusal,
            )
            endpoint = config.public_url
            if clients.get("app") is not None:
                mount_route(clients["app"], config.path, ingress)
            elif config.port is not None:
                port = await stack.enter_async_context(serve_asgi(ingress, config.host, config.port))
                endpoint = endpoint or f"http://{config.host}:{port}{config.path}"
            else:
                raise ValueError(
                    "a webhook server needs a port (--port / port=) or an app to mount into "
                    "(asyncmcp.webhook.webhook_app)"
                )
            yield ServerBinding(
                channel,
                address,
                reply_policy,
                handshake_meta_key=WEBHOOK_META_KEY,
                endpoint=endpoint,
            )

    @asynccontextmanager
    async def open_client(
        self, config: WebhookClientConfig, clients: Mapping[str, Any], *, purpose: str = "reply"
    ) -> AsyncIterator[ClientBinding]:
        from asyncmcp.channels.webhook.channel import WebhookChannel

        # The server URL is the operator's own setting, not client input: it alone is allowed, and
        # what it answers to a refused request is worth telling the user.
        policy = EgressPolicy(allowed=(config.server_url,), allow_loopback=True, allow_http=True)
        async with AsyncExitStack() as stack:
            sender = await stack.enter_async_context(
                webhook_sender(config, policy, config.retry_delays, explain_refusals=True)
            )
            channel = WebhookChannel(sender, INBOX_ADDRESS)
            webhook_url = await stack.enter_async_context(
                webhook_receiver(config, sender.signer, channel.sink, clients, max_body_bytes=config.max_body_bytes)
            )
            yield ClientBinding(
                channel, config.server_url, INBOX_ADDRESS, webhook_url, True, handshake_meta_key=WEBHOOK_META_KEY
            )


def webhook_sender(
    config: SignedSettings, policy: EgressPolicy, retry_delays: tuple[float, ...], *, explain_refusals: bool = False
) -> WebhookSender:
    """The signed, retrying sender a config describes (use it as `async with`)."""
    from asyncmcp.channels.webhook.delivery import RetrySchedule, WebhookSender
    from asyncmcp.channels.webhook.signing import Signer

    signer = Signer(config.signing_secrets, tolerance_seconds=config.tolerance_seconds)
    schedule = RetrySchedule(retry_delays, timeout_seconds=config.delivery_timeout_seconds)
    return WebhookSender(
        signer, policy, schedule=schedule, max_frame_bytes=config.max_body_bytes, explain_refusals=explain_refusals
    )


@asynccontextmanager
async def webhook_receiver(
    config: ReceiverSettings, signer: Signer, sink: Sink, clients: Mapping[str, Any], *, max_body_bytes: int
) -> AsyncIterator[str]:
    """A client's verifying receiver for the body of the block; yields the webhook URL that reaches it.

    Mounted at `config.receiver_path` into the app passed as the client named `app` (reached at
    `config.webhook_url`, or `app_url` + the path), otherwise served on `receiver_host` and
    `receiver_port` (0: a free one). Answers 200 to what it takes."""
    from asyncmcp.channels.http_server import serve_asgi
    from asyncmcp.channels.webhook.ingress import WebhookIngress

    ingress = WebhookIngress(
        signer, sink, path=config.receiver_path, max_body_bytes=max_body_bytes, accepted_status=200
    )
    webhook_url = config.webhook_url
    if clients.get("app") is not None:
        if webhook_url is None and clients.get("app_url"):
            webhook_url = str(clients["app_url"]).rstrip("/") + config.receiver_path
        if webhook_url is None:
            raise ValueError("a webhook receiver mounted into an app needs webhook_url: the URL that reaches it")
        mount_route(clients["app"], config.receiver_path, ingress)
        yield webhook_url
        return
    async with serve_asgi(ingress, config.receiver_host, config.receiver_port) as port:
        yield webhook_url or f"http://{config.receiver_host}:{port}{config.receiver_path}"
