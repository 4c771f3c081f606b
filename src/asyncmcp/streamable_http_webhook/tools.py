"""Which tools answer by webhook, and how `tools/list` says so.

A tool is a webhook tool when the config names it (`webhook_tools={...}`, `"*"` for every tool) or its function carries
the `@webhook_tool` mark (read from an `MCPServer`'s tool registry each time, so tools added later
count too). `AdvertiseWebhookTools` is an SDK server middleware: it marks each webhook tool in the
`tools/list` answer with `_meta["dev.asyncmcp/webhook"] = true`, whatever kind of server made it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from pydantic import BaseModel

from asyncmcp.streamable_http_webhook.wire import WEBHOOK_TOOL_META_KEY

if TYPE_CHECKING:  # `mcp.server` imports uvicorn: registering the transport must not
    from mcp.server import ServerRequestContext
    from mcp.server.context import CallNext, HandlerResult

__all__ = ["EVERY_TOOL", "AdvertiseWebhookTools", "WebhookTools", "webhook_tool"]

_MARK = "__asyncmcp_webhook_tool__"

EVERY_TOOL = "*"
"""In `webhook_tools`: every tool of the server answers by webhook."""

F = TypeVar("F", bound=Callable[..., Any])


@overload
def webhook_tool(fn: F) -> F: ...
@overload
def webhook_tool(fn: None = None) -> Callable[[F], F]: ...
def webhook_tool(fn: F | None = None) -> F | Callable[[F], F]:
    """Mark an `MCPServer` tool as a webhook tool, above or below `@server.tool()`.

    ```python
    @server.tool()
    @webhook_tool
    async def build_report(month: str) -> str: ...
    ```
    A lowlevel `Server` has no tool registry to read the mark from: name its tools in
    `webhook_tools=` instead.
    """

    def mark(function: F) -> F:
        setattr(function, _MARK, True)
        return function

    return mark if fn is None else mark(fn)


class WebhookTools:
    """The webhook tools of one server: names from the config plus marked `MCPServer` tools."""

    def __init__(self, server: Any, names: Collection[str]) -> None:
        self._names = frozenset(names)
        self._registry = getattr(server, "_tool_manager", None)  # an MCPServer's; mcp is pinned to 2.3.x

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self._names or EVERY_TOOL in self._names:
            return True
        if self._registry is None:
            return False
        tool = self._registry.get_tool(name)
        return tool is not None and bool(getattr(tool.fn, _MARK, False))


class AdvertiseWebhookTools:
    """Server middleware: the `tools/list` answer marks webhook tools in their `_meta`."""

    def __init__(self, tools: WebhookTools) -> None:
        self.tools = tools

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/list" or result is None:
            return result
        listing: dict[str, Any] = (
            result.model_dump(by_alias=True, mode="json", exclude_none=True)
            if isinstance(result, BaseModel)
            else dict(result)
        )
        listing["tools"] = [self._marked(entry) for entry in cast("list[Any]", listing.get("tools") or [])]
        return listing

    def _marked(self, entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        tool = cast("dict[str, Any]", entry)
        if tool.get("name") not in self.tools:
            return tool
        meta = cast("dict[str, Any]", tool.get("_meta") or {})
        return {**tool, "_meta": {**meta, WEBHOOK_TOOL_META_KEY: True}}
