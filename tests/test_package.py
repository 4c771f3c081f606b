"""The package surface: light imports, the seed names, and the public members of each face."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

HEAVY = ("botocore", "boto3", "aiobotocore", "moto", "uvicorn")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    (line,) = [line for line in out.stderr.splitlines() if line.startswith("loaded:")]
    return line.split()[1:]


def test_import_asyncmcp_loads_no_aws_library_and_no_web_server() -> None:
    assert _loaded_after("import asyncmcp") == []


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["proxy", "--help"]])
def test_cli_help_loads_no_aws_library_and_no_web_server(argv: list[str]) -> None:
    code = f"from asyncmcp.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_the_seed_names_still_import() -> None:
    assert _loaded_after("from asyncmcp import SqsServerConfig, SqsClientConfig") == []
    from asyncmcp import SqsClientConfig, SqsServerConfig
    from asyncmcp.proxy import create_proxy_server
    from asyncmcp.sqs import sqs_client, sqs_server
    from asyncmcp.sqs.utils import SqsClientConfig as SeedClientConfig
    from asyncmcp.sqs.utils import SqsServerConfig as SeedServerConfig

    assert SeedClientConfig is SqsClientConfig and SeedServerConfig is SqsServerConfig
    assert callable(sqs_client) and callable(sqs_server) and callable(create_proxy_server)


@pytest.mark.parametrize(
    "module",
    [
        "asyncmcp",
        "asyncmcp.sqs",
        "asyncmcp.testing",
        "asyncmcp.channels",
        "asyncmcp.proxy",
        "asyncmcp.streamable_http_webhook",
    ],
)
def test_every_exported_member_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in loaded.__all__:
        assert getattr(loaded, name) is not None, f"{module}.{name}"
