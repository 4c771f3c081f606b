"""The server the MCP conformance suite tests: every fixture its server scenarios look for.

The suite (`@modelcontextprotocol/conformance`) finds its fixtures by name (`test_simple_text`,
`test://static-text`, `test_prompt_with_arguments`, ...) and checks what they return, so the names
and texts below are the suite's; the scenario each one serves is named beside it. One module serves
both runs the suite compares (tests/conformance/test_conformance.py):

- plain: `python -m tests.conformance.fixture_server --port N` serves it with the SDK's own
  Streamable HTTP server, the reference;
- behind the queue: `asyncmcp serve ... tests.conformance.fixture_server:server`, reached through
  `asyncmcp proxy`.

The 2025-era tools ask the client the 2025 way (sampling and elicitation requests on the session);
the `test_input_required_*` tools answer the 2026 way (`input_required` results that the client
retries). Logging and resource subscriptions are 2025 methods `MCPServer` does not register, so
small handlers are added on its lowlevel server; 2026 requests for them are refused by the SDK.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import struct
import wave
import zlib
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Message, Prompt, UserMessage
from mcp.server.mcpserver.tools.base import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import Field

from asyncmcp.proxy.events import SSE_RETRY_MILLISECONDS, MemoryEventStore
from asyncmcp.server.engine import lowlevel_server
from asyncmcp.tasks import TasksExtension, TaskStore, TaskTool
from asyncmcp.tasks.dynamodb import DynamoTaskStore

__all__ = ["server"]

TASK_TABLE_ENV = "ASYNCMCP_TASK_TABLE"
"""Names the DynamoDB table the tasks live in (the proxied run sets it; the plain run keeps them in memory)."""

FAILING_JOB_SECONDS = 1.0
"""The suite describes failing_job as failing after about a second."""

STEP_PAUSE = 0.05
"""Seconds between a tool's notifications: the suite asks for ~50 ms so they arrive one by one."""


def _one_pixel_png() -> bytes:
    """A 1x1 red PNG, built here rather than pasted as an opaque string."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, 8-bit depth, RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _short_silence_wav() -> bytes:
    """A few samples of silence as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 16)
    return buffer.getvalue()


PNG = _one_pixel_png()
PNG_BASE64 = base64.b64encode(PNG).decode()
WAV_BASE64 = base64.b64encode(_short_silence_wav()).decode()

NAME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}
"""json-schema-2020-12: the keywords a server must pass through untouched in `tools/list`."""


def _schema_keywords_tool() -> str:
    """Tool with JSON Schema 2020-12 features"""
    return "schema preserved"


def _task_store() -> TaskStore | None:
    """DynamoDB when the run names a table (behind the queue: the store a fleet shares), else memory."""
    table = os.environ.get(TASK_TABLE_ENV)
    return DynamoTaskStore(table) if table else None


tasks = TasksExtension(
    {
        "slow_compute": "optional",
        "failing_job": "required",
        "protocol_error_job": "optional",
        "confirm_delete": "optional",
        "multi_input": "optional",
        # tasks-mrtr-composition: input is gathered by input_required rounds first; the call that
        # brings the answers becomes the task.
        "test_tool_with_task": TaskTool("required", when=lambda params: bool(params.input_responses)),
    },
    store=_task_store(),
)

server = MCPServer(
    "asyncmcp-conformance-fixture",
    version="1.0.0",
    extensions=[tasks],
    tools=[
        Tool.from_function(_schema_keywords_tool, name="json_schema_2020_12_tool").model_copy(
            update={"parameters": JSON_SCHEMA_2020_12}
        )
    ],
)


def _ask(message: str, schema: dict[str, Any]) -> ElicitRequest:
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> CreateMessageRequest:
    prompt = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[prompt], max_tokens=max_tokens))


def _answered(ctx: Context, *keys: str) -> dict[str, Any] | None:
    """The client's input responses when every key was answered (2026 retries), else None."""
    responses = ctx.input_responses or {}
    return dict(responses) if all(key in responses for key in keys) else None


def _elicited(answer: Any, field: str, default: str = "?") -> str:
    if isinstance(answer, ElicitResult) and answer.content and field in answer.content:
        return str(answer.content[field])
    return default


# -- tools-call-*: content of every type ---------------------------------------------------------


@server.tool()
def test_simple_text() -> str:
    """Returns one text block (tools-call-simple-text)."""
    return "This is a simple text response for testing."


@server.tool()
def test_image_content() -> list[ImageContent]:
    """Returns one PNG image (tools-call-image)."""
    return [ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")]


@server.tool()
def test_audio_content() -> list[AudioContent]:
    """Returns one WAV clip (tools-call-audio)."""
    return [AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")]


@server.tool()
def test_embedded_resource() -> list[EmbeddedResource]:
    """Returns an embedded text resource (tools-call-embedded-resource)."""
    contents = TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return [EmbeddedResource(type="resource", resource=contents)]


@server.tool()
def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Returns text, an image and a resource together (tools-call-mixed-content)."""
    contents = TextResourceContents(
        uri="test://mixed-content-resource", mime_type="application/json", text='{"test":"data","value":123}'
    )
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_BASE64, mime_type="image/png"),
        EmbeddedResource(type="resource", resource=contents),
    ]


@server.tool()
def test_error_handling() -> str:
    """Always fails, as a tool error (tools-call-error)."""
    raise ToolError("This tool intentionally returns an error for testing")


# -- notifications while a tool runs ---------------------------------------------------------------


@server.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    """Logs three lines at info level while it runs (tools-call-with-logging)."""
    for line in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(line)  # pyright: ignore[reportDeprecated]
        await anyio.sleep(STEP_PAUSE)
    return "Tool with logging executed successfully"


@server.tool()
async def test_logging_tool(ctx: Context) -> str:
    """Logs one line; without a `_meta` log level a 2026 request must see none (server-stateless)."""
    await ctx.info("a log line the client did not ask for")  # pyright: ignore[reportDeprecated]
    return "logged"


@server.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    """Reports progress 0, 50 and 100 of 100 (tools-call-with-progress)."""
    for done in (0, 50, 100):
        await ctx.report_progress(done, 100, f"{done} of 100")
        if done < 100:
            await anyio.sleep(STEP_PAUSE)
    return "Tool with progress executed successfully"


# -- 2025 requests to the client (sampling, elicitation) ------------------------------------------


@server.tool()
async def test_sampling(prompt: str, ctx: Context) -> str:
    """Asks the client's model (tools-call-sampling)."""
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    result = await ctx.session.create_message(  # pyright: ignore[reportDeprecated]
        messages=[message], max_tokens=100, related_request_id=ctx.request_id
    )
    text = result.content.text if isinstance(result.content, TextContent) else "(no text)"
    return f"LLM response: {text}"


async def _elicit_form(ctx: Context, message: str, schema: dict[str, Any]) -> ElicitResult:
    return await ctx.session.elicit_form(  # pyright: ignore[reportDeprecated]
        message, schema, related_request_id=ctx.request_id
    )


@server.tool()
async def test_elicitation(message: str, ctx: Context) -> str:
    """Asks the user for a username and an email (tools-call-elicitation)."""
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    result = await _elicit_form(ctx, message, schema)
    return f"User response: action={result.action}, content={json.dumps(result.content or {})}"


@server.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Asks with a default for every primitive type (elicitation-sep1034-defaults)."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verified", "default": True},
        },
    }
    result = await _elicit_form(ctx, "Please review your details", schema)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"


@server.tool()
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Asks with each of the five enum shapes (elicitation-sep1330-enums)."""
    options = ["option1", "option2", "option3"]
    titled = [{"const": f"value{n}", "title": f"Option {n}"} for n in (1, 2, 3)]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": options},
            "titledSingle": {"type": "string", "oneOf": titled},
            "legacyEnum": {"type": "string", "enum": options, "enumNames": ["One", "Two", "Three"]},
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": options}},
            "titledMulti": {"type": "array", "items": {"anyOf": titled}},
        },
    }
    result = await _elicit_form(ctx, "Pick from each list", schema)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}"


@server.tool()
async def test_reconnection(ctx: Context) -> str:
    """Closes its SSE stream mid-call and finishes after the client reconnects (server-sse-polling)."""
    await ctx.info("before the stream closes")  # pyright: ignore[reportDeprecated]
    await ctx.close_sse_stream()
    await anyio.sleep(STEP_PAUSE * 4)
    await ctx.info("after the client reconnected")  # pyright: ignore[reportDeprecated]
    return "Reconnection test completed"


# -- 2026 diagnostics (server-stateless, http-custom-header-server-validation) -------------------


MIRRORED_REGION = Field(description="Also sent as Mcp-Param-Region", json_schema_extra={"x-mcp-header": "Region"})


@server.tool()
def test_custom_header(region: Annotated[str, MIRRORED_REGION]) -> str:
    """Has a parameter mirrored into an `Mcp-Param-Region` header (SEP-2243)."""
    return f"region {region}"


@server.tool()
async def test_missing_capability(ctx: Context) -> str:
    """Needs the client's sampling capability and says so with -32021 when it is missing."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="test_missing_capability needs the client's sampling capability",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    return "sampling declared"


@server.tool()
async def test_streaming_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Streams progress, then asks for input the 2026 way, never as a request on the stream."""
    if _answered(ctx, "user_name") is not None:
        return "thank you"
    await ctx.report_progress(0, 1, "needs a name")
    return InputRequiredResult(input_requests={"user_name": _ask("What is your name?", NAME_SCHEMA)})


def _passing_tool() -> str:
    """Added and removed again by test_trigger_tool_change."""
    return "gone"


def _passing_prompt() -> str:
    """Added and removed again by test_trigger_prompt_change."""
    return "gone"


@server.tool()
async def test_trigger_tool_change(ctx: Context) -> str:
    """Changes the tool list and tells `subscriptions/listen` streams (SEP-2575)."""
    server.add_tool(_passing_tool, name="test_passing_tool")
    server.remove_tool("test_passing_tool")
    await ctx.notify_tools_changed()
    return "tools changed"


@server.tool()
async def test_trigger_prompt_change(ctx: Context) -> str:
    """Changes the prompt list and tells `subscriptions/listen` streams (SEP-2575)."""
    server.add_prompt(Prompt.from_function(_passing_prompt, name="test_passing_prompt"))
    server.remove_prompt("test_passing_prompt")
    await ctx.notify_prompts_changed()
    return "prompts changed"


# -- input-required-result-* (SEP-2322): the 2026 way to ask the client ---------------------------


@server.tool()
async def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Asks for a name, greets on the retry; a missing or wrong answer is asked for again."""
    answers = _answered(ctx, "user_name")
    if answers is None:
        return InputRequiredResult(input_requests={"user_name": _ask("What is your name?", NAME_SCHEMA)})
    return f"Hello, {_elicited(answers['user_name'], 'name', 'stranger')}!"


@server.tool()
async def test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
    """Asks the client's model a question and repeats its answer."""
    answers = _answered(ctx, "capital_question")
    if answers is None:
        return InputRequiredResult(input_requests={"capital_question": _sample("What is the capital of France?", 100)})
    answer = answers["capital_question"]
    text = answer.content.text if isinstance(answer, CreateMessageResult) and answer.content.type == "text" else "?"
    return f"The model answered: {text}"


@server.tool()
async def test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
    """Asks for the client's roots and counts them."""
    answers = _answered(ctx, "client_roots")
    if answers is None:
        return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})
    roots = answers["client_roots"]
    count = len(roots.roots) if isinstance(roots, ListRootsResult) else 0
    return f"The client has {count} root(s)."


CONFIRM_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@server.tool()
async def test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
    """Hands out a request state and checks it comes back on the retry."""
    if _answered(ctx, "confirm") is not None and ctx.request_state == "awaiting-confirmation":
        return "state-ok: the confirmation and the request state came back"
    return InputRequiredResult(
        input_requests={"confirm": _ask("Please confirm", CONFIRM_SCHEMA)}, request_state="awaiting-confirmation"
    )


@server.tool()
async def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
    """Asks for a name, a sampled greeting and the roots in one round."""
    if _answered(ctx, "user_name", "greeting", "client_roots") is not None:
        return "Every input arrived."
    return InputRequiredResult(
        input_requests={
            "user_name": _ask("What is your name?", NAME_SCHEMA),
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": ListRootsRequest(),
        },
        request_state="three-inputs",
    )


@server.tool()
async def test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
    """Three rounds: a name, then a colour, then the answer; the request state says which round."""
    state = json.loads(ctx.request_state) if ctx.request_state else {}
    if state.get("round") == 1 and (answers := _answered(ctx, "step1")) is not None:
        color = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
        return InputRequiredResult(
            input_requests={"step2": _ask("Step 2: What is your favorite color?", color)},
            request_state=json.dumps({"round": 2, "name": _elicited(answers["step1"], "name")}),
        )
    if state.get("round") == 2 and (answers := _answered(ctx, "step2")) is not None:
        return f"{state.get('name')} likes {_elicited(answers['step2'], 'color')}."
    return InputRequiredResult(
        input_requests={"step1": _ask("Step 1: What is your name?", NAME_SCHEMA)},
        request_state=json.dumps({"round": 1}),
    )


@server.tool()
async def test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
    """Hands out a request state; the SDK seals it, so a tampered one is refused before this runs."""
    if ctx.request_state is None:
        return InputRequiredResult(
            input_requests={"confirm": _ask("Please confirm", CONFIRM_SCHEMA)}, request_state="first-round"
        )
    return f"state-ok: {ctx.request_state}"


@server.tool()
async def test_input_required_result_capabilities(ctx: Context) -> InputRequiredResult:
    """Asks only for what the client declared it can do."""
    capabilities = ctx.client_capabilities
    requests: dict[str, InputRequest] = {}
    if capabilities is not None and capabilities.sampling is not None:
        requests["sample"] = _sample("Say hello", 50)
    if capabilities is not None and capabilities.elicitation is not None:
        requests["ask"] = _ask("What is your name?", NAME_SCHEMA)
    return InputRequiredResult(input_requests=requests or None, request_state="declared-only")


@server.prompt()
async def test_input_required_result_prompt(ctx: Context) -> list[Message] | InputRequiredResult:
    """A prompt that asks for its context first (input-required-result-non-tool-request)."""
    answers = _answered(ctx, "user_context")
    if answers is None:
        schema = {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}
        return InputRequiredResult(input_requests={"user_context": _ask("What context should the prompt use?", schema)})
    context = _elicited(answers["user_context"], "context")
    return [UserMessage(content=TextContent(type="text", text=f"Answer with this context: {context}"))]


# -- resources-* -------------------------------------------------------------------------------------


@server.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A text resource."""
    return "This is the content of the static text resource."


@server.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A binary resource (a PNG)."""
    return PNG


@server.resource("test://template/{id}/data", mime_type="application/json")
def template_data(id: str) -> str:
    """A resource template: the id comes from the URI."""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@server.resource("test://watched-resource", mime_type="text/plain")
def watched_resource() -> str:
    """A resource clients subscribe to."""
    return "Watched resource content"


# -- prompts-* ---------------------------------------------------------------------------------------


@server.prompt()
def test_simple_prompt() -> list[Message]:
    """A prompt without arguments."""
    return [UserMessage(content=TextContent(type="text", text="This is a simple prompt for testing."))]


@server.prompt()
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[Message]:
    """A prompt with two required arguments."""
    text = f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
    return [UserMessage(content=TextContent(type="text", text=text))]


@server.prompt()
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
    """A prompt that embeds the resource it is given (the argument name is the suite's)."""
    text = "Embedded resource content for testing."
    contents = TextResourceContents(uri=resourceUri, mime_type="text/plain", text=text)
    return [
        UserMessage(content=EmbeddedResource(type="resource", resource=contents)),
        UserMessage(content=TextContent(type="text", text="Please process the embedded resource above.")),
    ]


@server.prompt()
def test_prompt_with_image() -> list[Message]:
    """A prompt with an image."""
    return [
        UserMessage(content=ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")),
        UserMessage(content=TextContent(type="text", text="Please analyze the image above.")),
    ]


@server.completion()
async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: CompletionContext | None
) -> Completion:
    """completion-complete: any answer of the right shape will do."""
    return Completion(values=[f"{argument.value}-completed"], total=1, has_more=False)


# -- the tasks extension's fixtures (tasks-* scenarios, SEP-2663) --------------------------------


@server.tool()
def greet(name: str) -> str:
    """tasks-*: a tool that never becomes a task."""
    return f"Hello, {name}!"


@server.tool()
async def slow_compute(seconds: float, label: str = "") -> str:
    """tasks-*: a task that takes `seconds`; cancelling it stops the sleep."""
    await anyio.sleep(seconds)
    return f"Computed {label or 'result'} after {seconds:g} s"


@server.tool()
async def failing_job() -> str:
    """tasks-lifecycle, tasks-required-task-error: a task whose tool reports an error (completed, isError)."""
    await anyio.sleep(FAILING_JOB_SECONDS)
    raise ToolError("failing_job failed, as it always does")


@server.tool()
async def protocol_error_job() -> str:
    """tasks-lifecycle: a task that ends in a JSON-RPC error (failed)."""
    raise MCPError(code=INTERNAL_ERROR, message="protocol_error_job hit an internal error")


@server.tool()
async def confirm_delete(filename: str, ctx: Context) -> str | InputRequiredResult:
    """tasks-mrtr-input: asks for a confirmation, then completes."""
    answers = _answered(ctx, "confirm")
    if answers is None:
        schema = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}
        return InputRequiredResult(input_requests={"confirm": _ask(f"Delete {filename}?", schema)})
    return f"Deleted {filename}" if _elicited(answers["confirm"], "confirm", "") == "True" else f"Kept {filename}"


@server.tool()
async def multi_input(ctx: Context) -> str | InputRequiredResult:
    """tasks-mrtr-input: asks two questions at once, then completes once both are answered."""
    answers = _answered(ctx, "name", "confirm")
    if answers is None:
        confirm = {"type": "object", "properties": {"confirm": {"type": "boolean"}}}
        return InputRequiredResult(
            input_requests={"name": _ask("What is your name?", NAME_SCHEMA), "confirm": _ask("Go ahead?", confirm)}
        )
    return f"Both answered: {_elicited(answers['name'], 'name')}"


@server.tool()
async def test_tool_with_task(ctx: Context) -> str | InputRequiredResult:
    """tasks-mrtr-composition: asks for a name by input_required, then runs as a task with it."""
    answers = _answered(ctx, "user_name")
    if answers is None:
        return InputRequiredResult(input_requests={"user_name": _ask("What is your name?", NAME_SCHEMA)})
    return f"Hello, {_elicited(answers['user_name'], 'name', 'stranger')}, from a task!"


# -- 2025 methods MCPServer does not register (logging-set-level, resources-(un)subscribe) ---------


async def _set_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
    return EmptyResult()


async def _subscribe(ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
    return EmptyResult()


async def _unsubscribe(ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
    return EmptyResult()


_lowlevel = lowlevel_server(server)
_lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_level)
_lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe)
_lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe)


def main() -> None:
    """Serve the fixture with the SDK's own Streamable HTTP server on 127.0.0.1 (the plain run)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # An event store and a retry interval, as the proxy has: server-sse-polling resumes a closed
    # stream with Last-Event-ID after the announced retry.
    server.run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        event_store=MemoryEventStore(),
        retry_interval=SSE_RETRY_MILLISECONDS,
    )


if __name__ == "__main__":
    main()
