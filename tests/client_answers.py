"""What the tests' MCP clients answer and read: the elicitation and sampling callbacks, and a
tool result's text. Shared by the direct-transport and the proxy tests, which ask the same."""

from __future__ import annotations

from typing import Any

from mcp.client import ClientRequestContext
from mcp.types import CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, TextContent


def text_of(result: Any) -> str:
    """The text of a successful tool result's first content block."""
    assert not result.is_error, result
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


async def elicit_blue(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    assert params.message == "Which colour?"
    return ElicitResult(action="accept", content={"colour": "blue"})


async def sample_hello(context: ClientRequestContext, params: CreateMessageRequestParams) -> CreateMessageResult:
    asked = params.messages[0].content
    assert isinstance(asked, TextContent)
    return CreateMessageResult(
        role="assistant", content=TextContent(type="text", text=f"hello ({asked.text})"), model="test-model"
    )
