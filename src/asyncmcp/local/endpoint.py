"""Start and stop the embedded AWS endpoint: moto's server, bound to 127.0.0.1 only.

Two shapes, same interface: `LocalEndpoint.in_process()` runs moto on a thread of this process
(fast, for tests), `LocalEndpoint.subprocess()` runs `python -m moto.server` as a child process
(its own GIL, for demos and multi-process tests). Both pick a free port, wait until the endpoint
answers, and stop everything they started on exit. moto is an optional dependency
(`asyncmcp[local]`); the error says so when it is missing.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from asyncmcp.errors import AsyncMcpError

__all__ = ["AWS_TEST_ENV", "LocalEndpoint"]

logger = logging.getLogger(__name__)

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never probe 169.254.169.254 for credentials
}

STARTUP_TIMEOUT = 30.0
"""moto's server is up in under a second here; a slow CI machine gets thirty."""

_HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _require_moto() -> None:
    try:
        import moto.server  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise AsyncMcpError(
            "the embedded endpoint needs moto: pip install 'asyncmcp[local]' (make demo and make test install it)"
        ) from exc


def _wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"the embedded AWS endpoint at {url} did not start") from None
            time.sleep(0.05)


@dataclass
class LocalEndpoint:
    """A running embedded endpoint at `url`."""

    url: str
    _stop: Any = field(repr=False, default=None)

    def environment(self) -> dict[str, str]:
        """Environment variables that point boto3 and aiobotocore at this endpoint."""
        return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": self.url}

    @contextmanager
    def exported(self, **extra: str) -> Iterator[LocalEndpoint]:
        """Point this process's AWS SDKs at the endpoint (plus `extra` variables), restoring them on exit."""
        values = {**self.environment(), **extra}
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def reset(self) -> None:
        """Forget every queue and topic (moto's reset API)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    @classmethod
    @contextmanager
    def in_process(cls) -> Iterator[LocalEndpoint]:
        _require_moto()
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=_HOST, port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = cls(f"http://{host}:{port}")
        try:
            _wait_until_up(endpoint.url)
            yield endpoint
        finally:
            server.stop()

    @classmethod
    @contextmanager
    def subprocess(cls, port: int | None = None) -> Iterator[LocalEndpoint]:
        _require_moto()
        port = port or _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", _HOST, "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = cls(f"http://{_HOST}:{port}")
        try:
            _wait_until_up(endpoint.url, process)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
