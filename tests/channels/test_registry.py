"""The channel registry: names to lazily imported transports, and third-party channels by entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asyncmcp.channels import registry
from asyncmcp.channels.memory import MemoryServerConfig
from asyncmcp.channels.sqs.config import SqsClientConfig, SqsServerConfig


def test_builtin_transports_are_registered_and_the_cli_ones_marked() -> None:
    assert {"sqs", "memory"} <= set(registry.names())
    assert "sqs" in registry.names(cli_only=True)
    assert "memory" not in registry.names(cli_only=True)  # an in-process broker cannot be served from a shell
    assert registry.get(registry.DEFAULT_TRANSPORT).name == registry.DEFAULT_TRANSPORT


def test_connections_do_not_rescan_the_installed_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    # Scanning every installed package's entry points took ~5 ms, paid twice by every connection.
    scans: list[str] = []
    real = registry.entry_points

    def counting(**kwargs: str) -> object:
        scans.append(kwargs.get("group", ""))
        return real(**kwargs)

    monkeypatch.setattr(registry, "entry_points", counting)
    registry._table.cache_clear()
    config = SqsClientConfig(read_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/requests")
    for _ in range(5):
        assert registry.for_config(config).name == "sqs"
        assert registry.get("memory").name == "memory"
    assert scans == []  # built-in names need no scan at all
    for _ in range(3):
        registry.names()
        with pytest.raises(registry.UnknownTransportError):
            registry.get("carrier-pigeon")
    assert scans == [registry.ENTRY_POINT_GROUP]  # and the others one per process
    registry._table.cache_clear()


def test_an_unknown_transport_names_the_choices() -> None:
    with pytest.raises(registry.UnknownTransportError, match=r"choose one of .*sqs"):
        registry.get("carrier-pigeon")


def test_a_config_finds_its_transport() -> None:
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/requests"
    assert registry.for_config(SqsServerConfig(read_queue_url=url)).name == "sqs"
    assert registry.for_config(SqsClientConfig(read_queue_url=url)).name == "sqs"
    assert registry.for_config(MemoryServerConfig(queue="q")).name == "memory"
    with pytest.raises(TypeError, match="not an asyncmcp channel config"):
        registry.for_config(object())


THIRD_PARTY = '''
    """A channel from another package: the memory channel under a new name, with a flag of its own."""
    from asyncmcp.channels.base import Option
    from asyncmcp.channels.memory import MemoryClientConfig, MemoryServerConfig, MemoryTransport


    class PigeonServerConfig(MemoryServerConfig):
        transport = "pigeon"


    class PigeonClientConfig(MemoryClientConfig):
        transport = "pigeon"


    class PigeonTransport(MemoryTransport):
        name = "pigeon"
        summary = "a third-party channel"
        server_config = PigeonServerConfig
        client_config = PigeonClientConfig
        cli = True
        server_options = (Option("--loft", "queue", "the loft to read requests from"),)
        client_options = (Option("--loft", "queue", "the server's loft"),)
'''


def _install_third_party(root: Path) -> dict[str, str]:
    (root / "pigeon_channel.py").write_text(textwrap.dedent(THIRD_PARTY))
    info = root / "pigeon_channel-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-channel\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[asyncmcp.channels]\npigeon = pigeon_channel:PigeonTransport\n")
    return {"PYTHONPATH": str(root)}


def test_a_third_party_package_adds_a_channel_with_an_entry_point(tmp_path: Path) -> None:
    import os

    env = {**os.environ, **_install_third_party(tmp_path)}
    probe = (
        "from asyncmcp.channels import registry;"
        "from pigeon_channel import PigeonServerConfig;"
        "t = registry.get('pigeon');"
        "found = registry.for_config(PigeonServerConfig(queue='q')).name;"
        "print(t.name, 'pigeon' in registry.names(cli_only=True), found)"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["pigeon", "True", "pigeon"]
    # Its flags reach the CLI with no change to asyncmcp.
    help_text = subprocess.run(
        [sys.executable, "-m", "asyncmcp", "serve", "--transport", "pigeon", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--loft" in help_text and "pigeon" in help_text
