"""What the proxy tells front clients of backend errors: no backend address, but what they sent stays."""

from __future__ import annotations

from mcp.shared.exceptions import MCPError

from asyncmcp.proxy.redaction import redacted_error, strings_of

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/requests"


def test_backend_addresses_are_hidden_but_an_address_the_client_sent_is_not() -> None:
    asked = "test://nonexistent-resource"
    error = MCPError(code=-32002, message=f"Resource {asked} not found (via {QUEUE})", data={"uri": asked})
    safe = redacted_error(error, strings_of({"uri": asked, "_meta": {}}))
    assert safe is not None
    assert safe.error.message == f"Resource {asked} not found (via <backend address>)"
    assert safe.error.data == {"uri": asked}


def test_an_error_naming_only_what_the_client_sent_is_relayed_unchanged() -> None:
    asked = "test://nonexistent-resource"
    error = MCPError(code=-32002, message="Resource not found", data={"uri": asked})
    assert redacted_error(error, strings_of({"uri": asked})) is None
    assert redacted_error(error) is not None  # without the request, the URI is hidden too
