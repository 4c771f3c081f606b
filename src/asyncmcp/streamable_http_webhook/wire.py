"""The few names the Streamable HTTP + webhook hybrid adds to plain Streamable HTTP.

Everything else on the wire is the SDK's own Streamable HTTP (both eras) and, for what is POSTed
to a client's webhook, the webhook transport's signed POSTs (`channels/webhook`). These names are
the contract between `server.py` and `client.py`; docs/wire-format.md describes them.
"""

from __future__ import annotations

__all__ = [
    "ACCEPTED",
    "ACCEPTED_HEADER",
    "FETCH_HEADER",
    "FETCH_RESULT",
    "WEBHOOK_TOOL_META_KEY",
    "WEBHOOK_URL_META_KEY",
]

WEBHOOK_URL_META_KEY = "webhookUrl"
"""Where a client names its webhook URL: `params._meta.webhookUrl` of `initialize` (the original
asyncmcp handshake, kept for the 2025 session) and of any request (2026 requests have no session)."""

WEBHOOK_TOOL_META_KEY = "dev.asyncmcp/webhook"
"""In `tools/list`, a webhook tool's `_meta` carries this key set to true: a client knows before it
calls that the answer will come by webhook (when it named a webhook URL)."""

ACCEPTED_HEADER = "asyncmcp-webhook"
ACCEPTED = "accepted"
"""The immediate answer to a webhook tool's call is `202 Accepted` with `asyncmcp-webhook: accepted`:
the POST is closed at once and everything that answers the call is POSTed to the webhook."""

FETCH_HEADER = "asyncmcp-fetch"
FETCH_RESULT = "result"
"""A client resends a call's POST with `asyncmcp-fetch: result` to ask for its result without
starting it again: 200 with the kept JSON-RPC answer, 202 while it runs, 404 when the server does
not know it (restarted, or the result expired)."""

# What the webhooks carry besides the body is the webhook transport's: `codec.ATTR_CLIENT_ID`
# (`mcp-client-id`, also sent by the hybrid client on every POST, so that with the request id and
# the webhook URL it keys a call) and `codec.ATTR_RELATED_REQUEST_ID` (`mcp-related-request-id`, the
# call a notification or a server request belongs to).
