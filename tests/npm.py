"""npm packages the tests run (the TypeScript SDK client, the MCP conformance suite), installed
once into a cache directory on first use."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["npm_install"]

NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "network")
"""What npm prints when it cannot reach the registry: the test is skipped, not failed."""

INSTALL_TIMEOUT = 600
"""Seconds a first install may take (the conformance suite brings a Node.js of its own)."""


def npm_install(directory: Path, packages: list[str], *, module_type: bool = False) -> None:
    """`npm install` `packages` into `directory` (made, with a package.json, when missing).

    Skips the calling test when the registry cannot be reached; fails it on any other npm error.
    The suite runs on several workers (pytest-xdist) that may want the same packages at once, so
    an install holds a lock beside `directory`: the second worker waits, then finds them there."""
    if shutil.which("npm") is None:
        pytest.fail(f"npm is not on PATH; install Node.js and npm to run the tests that use {' '.join(packages)}")
    directory.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f".{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install(directory, packages, module_type=module_type)


def _install(directory: Path, packages: list[str], *, module_type: bool) -> None:
    package_json = directory / "package.json"
    if not package_json.exists():
        manifest = {"name": directory.name, "private": True, **({"type": "module"} if module_type else {})}
        package_json.write_text(json.dumps(manifest))
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", *packages],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if installed.returncode != 0:
        output = installed.stdout + installed.stderr
        if any(marker in output for marker in NETWORK_ERRORS):
            pytest.skip(f"npm could not reach the registry to install {' '.join(packages)}: {output[-500:]}")
        pytest.fail(f"npm install {' '.join(packages)} failed:\n{output}")
