"""The official MCP conformance suite, `--suite all`, against the SDK's own server and through the proxy.

Both runs serve the same fixture server (`fixture_server.py`):

- plain: the MCP Python SDK's own Streamable HTTP server, the reference;
- proxied: `asyncmcp proxy` -> SQS (the moto endpoint of the `endpoint` fixture) -> `asyncmcp serve`,
  every part a separate process bound to 127.0.0.1.

Both runs must pass everything, the tasks scenarios included (the fixture enables asyncmcp's
tasks extension: in memory on the plain run, in DynamoDB on the moto endpoint behind the queue),
and the proxied run must pass every check the plain run passes. The plain run comes first, so a
suite release that the SDK itself fails is reported as such, not as a proxy regression. There is
no expected-failures file: nothing is allowed to fail.

The suite and a Node.js it can run on (it needs 22 or later; npm serves one as the `node` package)
are installed into `CACHE` on first use; set `ASYNCMCP_CONFORMANCE_CACHE` to keep them elsewhere.
Run just this test with `make conformance`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from asyncmcp.local.endpoint import LocalEndpoint
from asyncmcp.tasks.dynamodb import create_task_table
from tests.conformance.fixture_server import TASK_TABLE_ENV
from tests.npm import npm_install
from tests.processes import Proc, processes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900), pytest.mark.xdist_group("conformance")]

SUITE = "@modelcontextprotocol/conformance"
SUITE_VERSION = "0.2.0-alpha.12"
NODE = "node@22"
"""The suite's engines field asks for Node.js 22 or later; machines often have an older one."""

CACHE = Path(os.environ.get("ASYNCMCP_CONFORMANCE_CACHE", "/tmp/asyncmcp-conformance"))

SUITE_TIMEOUT = 600
"""Seconds one `--suite all` run may take: about 10 s plain and 25 s through the proxy on 2 idle
cores; each scenario also has the suite's own 30 s limit."""

FAILING = ("FAILURE", "WARNING")
"""Check statuses that count against a run (SUCCESS passes; INFO and SKIPPED are neither)."""

_RESULT_DIRECTORY = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
UVICORN_UP = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
PROXY_UP = re.compile(r"asyncmcp proxy: http://127\.0\.0\.1:(\d+)/mcp")


@dataclass(frozen=True)
class Check:
    scenario: str
    id: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"  {self.scenario} / {self.id}: {self.status}{': ' + self.message if self.message else ''}"


@dataclass(frozen=True)
class SuiteRun:
    """One `--suite all` run: the suite's exit code and output, and every check it recorded."""

    exit_code: int
    output: str
    checks: tuple[Check, ...]
    results: Path

    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.status in FAILING]

    def passed(self) -> set[tuple[str, str]]:
        return {(c.scenario, c.id) for c in self.checks if c.status == "SUCCESS"}

    def report(self, title: str, checks: list[Check]) -> str:
        lines = [f"{title} (suite exit {self.exit_code}; results in {self.results}):", *map(str, checks)]
        if not checks:
            lines.append(self.output[-3000:])
        return "\n".join(lines)


@dataclass(frozen=True)
class Suite:
    node: Path
    entry: Path

    async def run(self, url: str, results: Path) -> SuiteRun:
        command = [str(self.node), str(self.entry), "server", "--url", url, "--suite", "all"]
        command += ["-o", str(results)]
        with anyio.fail_after(SUITE_TIMEOUT):
            done = await anyio.run_process(command, check=False, stderr=subprocess.STDOUT)
        return SuiteRun(done.returncode, done.stdout.decode(errors="replace"), _checks(results), results)


def _checks(results: Path) -> tuple[Check, ...]:
    found: list[Check] = []
    for path in sorted(results.glob("*/checks.json")):
        named = _RESULT_DIRECTORY.match(path.parent.name)
        scenario = named.group("scenario") if named else path.parent.name
        for check in json.loads(path.read_text()):
            found.append(Check(scenario, check["id"], check["status"], check.get("errorMessage") or ""))
    return tuple(found)


@pytest.fixture(scope="session")
def suite() -> Iterator[Suite]:
    """The suite and Node.js 22, installed into `CACHE` once."""
    modules = CACHE / "node_modules"
    package = modules / SUITE / "package.json"
    installed = json.loads(package.read_text()).get("version") if package.exists() else None
    if installed != SUITE_VERSION or not (modules / "node" / "bin" / "node").exists():
        npm_install(CACHE, [f"{SUITE}@{SUITE_VERSION}", NODE])
    yield Suite(modules / "node" / "bin" / "node", modules / SUITE / "dist" / "index.js")


def _environment(endpoint: LocalEndpoint) -> dict[str, str]:
    env = {**os.environ, **endpoint.environment(), "PYTHONUNBUFFERED": "1"}
    env.pop("ASYNCMCP_REPLY_QUEUE_URL", None)
    return env


async def _plain_run(suite: Suite, env: dict[str, str], results: Path) -> SuiteRun:
    with processes() as started:
        server = Proc([sys.executable, "-m", "tests.conformance.fixture_server", "--port", "0"], env)
        started.append(server)
        port = (await server.wait_for_line(UVICORN_UP)).group(1)
        return await suite.run(f"http://localhost:{port}/mcp", results)


async def _proxied_run(suite: Suite, env: dict[str, str], request_queue: str, results: Path) -> SuiteRun:
    table = f"conformance-tasks-{uuid.uuid4().hex[:8]}"
    await create_task_table(table)
    env = {**env, TASK_TABLE_ENV: table}
    asyncmcp = [sys.executable, "-m", "asyncmcp"]
    with processes() as started:
        worker = Proc([*asyncmcp, "serve", "--transport", "sqs", "--request-queue-url", request_queue,
                       "tests.conformance.fixture_server:server"], env)  # fmt: skip
        started.append(worker)
        proxy = Proc([*asyncmcp, "proxy", "--backend", "sqs", "--port", "0", "--request-queue-url", request_queue], env)
        started.append(proxy)
        await worker.wait_serving()
        port = (await proxy.wait_for_line(PROXY_UP)).group(1)
        return await suite.run(f"http://localhost:{port}/mcp", results)


async def test_the_conformance_suite_passes_through_the_proxy_as_against_the_sdk_server(
    suite, endpoint, queues, tmp_path
):
    env = _environment(endpoint)

    plain = await _plain_run(suite, env, tmp_path / "plain")
    sdk_fails = plain.failing()
    if plain.exit_code != 0 or sdk_fails:
        title = "The SDK's own server fails these (so the suite or the fixture changed, not the proxy)"
        pytest.fail(plain.report(title, sdk_fails), pytrace=False)

    proxied = await _proxied_run(suite, env, queues.request, tmp_path / "proxied")
    proxy_fails = proxied.failing()
    if proxied.exit_code != 0 or proxy_fails:
        title = "Through the proxy these fail, and the SDK's own server passes them"
        pytest.fail(proxied.report(title, proxy_fails), pytrace=False)
    missing = plain.passed() - proxied.passed()
    if missing:
        short = [c for c in proxied.checks if (c.scenario, c.id) in missing]
        title = "Through the proxy these did not pass, and the SDK's own server passes them"
        pytest.fail(proxied.report(title, short), pytrace=False)
