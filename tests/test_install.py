"""A plain install works: the wheel, installed into a fresh virtual environment with its real
dependencies and no extras, gives a working CLI and the seed imports.

This is how users install (`pip install asyncmcp`), and it is the only test that would catch a
dependency the package imports but does not declare (it happened: `aiobotocore[boto3]` names an
extra aiobotocore does not have, so boto3 was missing and every command died on import). The
wheel is built from a copy of the tracked files, so the work tree is left as it was; packages
come from pip's configured indexes and its cache. Run it without `PYTHONPATH=src` (`make test`
does): pip would see asyncmcp on that path (with the `asyncmcp.egg-info` a build leaves there), take it
for installed and skip the wheel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("install")
"""One test worker runs these tests, so the venv they share (a session fixture) is built once."""

ROOT = Path(__file__).resolve().parents[1]

INSTALL_TIMEOUT = 600
"""Building the wheel and installing mcp and aiobotocore with their dependencies (cached: about 30 s)."""

SEED_IMPORTS = """
from asyncmcp import SqsClientConfig, SqsServerConfig
from asyncmcp.sqs import serve_sqs, sqs_client, sqs_server
from asyncmcp.sqs.utils import SqsClientConfig as SeedClientConfig, SqsServerConfig as SeedServerConfig
from asyncmcp.proxy import create_proxy_server
from asyncmcp.tasks import TasksClient, TasksExtension
from asyncmcp.tasks.dynamodb import DynamoTaskStore
TasksExtension({"t": "optional"}, key="k").sealer().seal({}, "id", "owner")  # cryptography is installed
import importlib.util
assert SeedClientConfig is SqsClientConfig and SeedServerConfig is SqsServerConfig
missing_extras = [name for name in ("boto3", "moto") if importlib.util.find_spec(name) is not None]
print("extras present:", missing_extras)
"""


def _run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False, **kwargs
    )


@pytest.fixture(scope="session")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the built wheel installed, no extras; its bin directory."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    tracked = _run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, tracked):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", work / "wheels", source])
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "wheels").glob("asyncmcp-*.whl")
    venv = work / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel])
    assert installed.returncode == 0, installed.stderr
    return venv / "bin"


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["proxy", "--help"]])
def test_the_cli_of_a_plain_install_works(fresh_install: Path, argv: list[str]) -> None:
    ran = _run([fresh_install / "asyncmcp", *argv])
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("usage: asyncmcp")


def test_the_seed_imports_of_a_plain_install_work_without_any_extra(fresh_install: Path) -> None:
    ran = _run([fresh_install / "python", "-c", SEED_IMPORTS])
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "extras present: []"


def test_the_embedded_endpoint_of_a_plain_install_says_which_extra_it_needs(fresh_install: Path) -> None:
    ran = _run([fresh_install / "asyncmcp", "local"])
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "asyncmcp: the embedded endpoint needs moto: pip install 'asyncmcp[local]' (make demo and make test install it)"
    )
