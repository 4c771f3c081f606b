"""The `asyncmcp` command in this process: what it reads from the environment, and what it says
when the user made a mistake (one or two lines, never a traceback)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import anyio
import boto3
import pytest

from asyncmcp import SqsClientConfig
from asyncmcp.channels import registry
from asyncmcp.channels.sqs.api import region_of_queue_url
from asyncmcp.channels.sqs.transport import SqsTransport
from asyncmcp.cli import build_parser, main
from asyncmcp.cli import proxy as proxy_cli
from asyncmcp.cli import serve as serve_cli
from asyncmcp.cli.local import create_demo_queues
from asyncmcp.cli.options import UsageError
from asyncmcp.cli.serve import load_server
from asyncmcp.local.endpoint import LocalEndpoint

REQUESTS = "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-requests"


def _proxy_args(*argv: str):
    args = ["proxy", *argv]
    return build_parser(args).parse_args(args)


def test_the_proxy_does_not_read_the_demo_clients_reply_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    # `asyncmcp local` prints ASYNCMCP_REPLY_QUEUE_URL for the demo client; a proxy started in the
    # same shell must still make its own reply queue.
    monkeypatch.setenv("ASYNCMCP_REPLY_QUEUE_URL", REQUESTS.replace("mcp-requests", "mcp-replies"))
    monkeypatch.setenv("ASYNCMCP_REQUEST_QUEUE_URL", REQUESTS)
    config = proxy_cli.build_config(registry.get("sqs"), _proxy_args())
    assert config.read_queue_url == REQUESTS
    assert config.response_queue_url is None


# -- one or two lines that say what to do ------------------------------------------------------


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 1) -> str:
    """Run the command in this process; it must fail with `code` and a one- or two-line message."""
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert not err.startswith("asyncmcp: asyncmcp")
    assert 1 <= len(err.splitlines()) <= 2, err
    return err


def _serve(queue_url: str, target: str = "tests.servers:server", *more: str) -> list[str]:
    return ["serve", "--request-queue-url", queue_url, target, *more]


def _command(name: str, queue_url: str) -> list[str]:
    """`serve` or `proxy` on `queue_url`: both open the channel at start, so both must say it plainly."""
    return _serve(queue_url) if name == "serve" else ["proxy", "--port", "0", "--request-queue-url", queue_url]


COMMANDS = pytest.mark.parametrize("command", ["serve", "proxy"])


@pytest.fixture
def no_aws_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No ~/.aws config or credentials file can supply what a test takes away."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@COMMANDS
def test_no_region_says_to_set_aws_region(queues, no_aws_files, capsys, command) -> None:
    no_aws_files.delenv("AWS_REGION", raising=False)
    no_aws_files.delenv("AWS_DEFAULT_REGION", raising=False)
    err = _fails(capsys, _command(command, queues.request))
    assert "no AWS region" in err and "AWS_REGION" in err


def test_the_region_is_read_from_an_aws_queue_url(queues, no_aws_files, capsys) -> None:
    no_aws_files.delenv("AWS_REGION", raising=False)
    no_aws_files.delenv("AWS_DEFAULT_REGION", raising=False)
    # The local endpoint stands in for AWS; the URL's region is enough to build the client.
    err = _fails(capsys, _serve("https://sqs.eu-west-1.amazonaws.com/123456789012/no-such-queue"))
    assert "region" not in err
    assert "no-such-queue does not exist" in err


def test_region_of_queue_url_reads_only_aws_hosts() -> None:
    assert region_of_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/q") == "eu-west-1"
    assert region_of_queue_url("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q") == "cn-north-1"
    assert region_of_queue_url("https://us-west-2.queue.amazonaws.com/123456789012/q") == "us-west-2"
    assert region_of_queue_url("http://127.0.0.1:4566/123456789012/q") is None
    assert region_of_queue_url("https://sqs.eu-west-1.amazonaws.com.evil.example/1/q") is None


@COMMANDS
def test_no_credentials_says_where_credentials_come_from(queues, no_aws_files, capsys, command) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        no_aws_files.delenv(name, raising=False)
    err = _fails(capsys, _command(command, queues.request))
    assert "no usable AWS credentials" in err
    assert "AWS_PROFILE" in err and "AWS_ACCESS_KEY_ID" in err


@COMMANDS
def test_a_local_queue_url_without_an_endpoint_says_to_export_it(monkeypatch, capsys, command) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    err = _fails(capsys, _command(command, "http://127.0.0.1:9/123456789012/mcp-requests"))
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:9" in err


def test_a_port_in_use_is_one_line(queues, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _fails(capsys, ["proxy", "--port", str(port), "--request-queue-url", queues.request])
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err


@pytest.mark.parametrize(
    ("variable", "value", "argv", "said"),
    [
        ("PORT", "abc", ["proxy", "--request-queue-url", REQUESTS], "PORT='abc' is not a number"),
        ("BACKEND_TRANSPORT", "x", ["proxy", "--request-queue-url", REQUESTS], "BACKEND_TRANSPORT='x'"),
        ("ASYNCMCP_TRANSPORT", "x", _serve(REQUESTS), "ASYNCMCP_TRANSPORT='x'"),
    ],
)
def test_a_bad_environment_value_names_the_variable(monkeypatch, capsys, variable, value, argv, said) -> None:
    monkeypatch.setenv(variable, value)
    assert said in _fails(capsys, argv, code=2)


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("http://127.0.0.1:8000/mcp", "is a URL; serve it with --upstream-url http://127.0.0.1:8000/mcp"),
        ("python server.py", "is a stdio command; put a command after `--`"),
        ("server.py", "is a stdio command; put a command after `--`"),
        ("factories:needs_a_name", "needs arguments (name)"),
        ("factories:built_later", "is an async function"),
        ("factories:not_a_server", "is a int, not an MCP Server"),
        ("no_such_module_here:server", "cannot import 'no_such_module_here'"),
    ],
)
def test_serve_refuses_what_it_cannot_serve_and_says_what_to_do(target, said, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "factories.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    err = _fails(capsys, _serve(REQUESTS, *target.split()), code=2)
    assert said in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["serve", "--request-queue-url", REQUESTS], "give what to serve: module:attribute, a command after --"),
        (["serve", "--request-queue-url", REQUESTS, "--env", "NOVALUE", "--", "node", "s.js"], "give KEY=VALUE"),
        (["serve", "--request-queue-url", REQUESTS, "--upstream-header", "x", "--upstream-url", "http://h/mcp"],
         "--upstream-header 'x': give 'Name: value'"),
        (["serve", "--request-queue-url", REQUESTS, "--upstream-url", "ftp://h/mcp"], "must start with http://"),
        (["serve", "--request-queue-url", REQUESTS, "--pool", "0", "--", "node", "s.js"], "pool must be 1 or more"),
    ],
)  # fmt: skip
def test_serve_refuses_a_bridge_it_cannot_build_in_one_line(capsys, argv, said) -> None:
    assert said in _fails(capsys, argv, code=2)


def test_serve_builds_the_server_from_a_function_that_takes_no_arguments(tmp_path, monkeypatch) -> None:
    (tmp_path / "factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_server("factories:make").name == "made"


def test_debug_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    with pytest.raises(UsageError):
        main(["--debug", "proxy", "--request-queue-url", REQUESTS])


FACTORIES = """
from mcp.server import MCPServer


def make():
    return MCPServer("made")


def needs_a_name(name):
    return MCPServer(name)


async def built_later():
    return MCPServer("later")


def not_a_server():
    return 3
"""


# -- sweeping what crashed processes left behind --------------------------------------------------


def _leftover(name: str, seen_seconds_ago: float | None) -> str:
    """A queue as a crashed process leaves its temporary reply queue (or, untagged, someone's own)."""
    tags = {} if seen_seconds_ago is None else {"asyncmcp-temporary": str(int(time.time() - seen_seconds_ago))}
    return boto3.client("sqs").create_queue(QueueName=name, tags=tags)["QueueUrl"]


def _queue_names() -> set[str]:
    return {url.rsplit("/", 1)[1] for url in boto3.client("sqs").list_queues().get("QueueUrls", [])}


def test_sweep_deletes_only_temporary_queues_idle_past_the_ttl(queues, capsys) -> None:
    _leftover("asyncmcp-proxy-crashed", seen_seconds_ago=7200)
    _leftover("asyncmcp-reply-alive", seen_seconds_ago=60)
    _leftover("asyncmcp-mine", seen_seconds_ago=None)
    assert main(["sweep", "--request-queue-url", queues.request]) == 0
    assert "asyncmcp-proxy-crashed" in capsys.readouterr().out
    names = _queue_names()
    assert "asyncmcp-proxy-crashed" not in names
    assert {"asyncmcp-reply-alive", "asyncmcp-mine"} <= names


def test_a_temporary_reply_queue_is_tagged_so_a_sweep_can_tell_it(queues) -> None:
    async def open_and_read_tags() -> dict[str, str]:
        transport = SqsTransport()
        async with transport.open_client(SqsClientConfig(read_queue_url=queues.request), {}) as binding:
            return boto3.client("sqs").list_queue_tags(QueueUrl=binding.receive_address)["Tags"]

    tags = anyio.run(open_and_read_tags)
    assert abs(int(tags["asyncmcp-temporary"]) - time.time()) < 600


def test_sweep_refuses_an_idle_time_that_would_take_live_queues(queues, capsys) -> None:
    err = _fails(capsys, ["sweep", "--request-queue-url", queues.request, "--idle", "5"], code=2)
    assert "would delete queues still in use" in err


def test_proxy_sweep_runs_before_it_starts(queues, capsys) -> None:
    _leftover("asyncmcp-proxy-crashed", seen_seconds_ago=7200)
    with socket.socket() as taken:  # the proxy then fails to listen: what ran before that is the sweep
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        argv = ["proxy", "--sweep", "--port", str(taken.getsockname()[1]), "--request-queue-url", queues.request]
        _fails(capsys, argv)
    assert "asyncmcp-proxy-crashed" not in _queue_names()


# -- the S3 claim-check ------------------------------------------------------------------------


def test_serve_and_proxy_take_a_payload_bucket_from_the_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["serve", "--request-queue-url", REQUESTS, "--payload-bucket", "mcp-payloads", "--keep-payloads", "t:s"]
    served = serve_cli.build_config(registry.get("sqs"), build_parser(args).parse_args(args))
    assert (served.payload_bucket, served.keep_payloads) == ("mcp-payloads", True)
    monkeypatch.setenv("ASYNCMCP_PAYLOAD_BUCKET", "env-payloads")
    monkeypatch.setenv("ASYNCMCP_REQUEST_QUEUE_URL", REQUESTS)
    proxied = proxy_cli.build_config(registry.get("sqs"), _proxy_args("--allow-payload-bucket", "theirs"))
    assert (proxied.payload_bucket, proxied.allowed_payload_buckets) == ("env-payloads", ("theirs",))
    sns = ["serve", "--transport", "sns_sqs", "--queue-url", REQUESTS, "--payload-threshold", "65536", "t:s"]
    assert (
        serve_cli.build_config(registry.get("sns_sqs"), build_parser(sns).parse_args(sns)).payload_threshold_bytes
        == 65536
    )


def test_a_bad_payload_bucket_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(capsys, [*_serve(REQUESTS), "--payload-bucket", "Not_A_Bucket"], code=2)
    assert "--payload-bucket" in err


def test_the_demos_queues_are_all_it_provisions(endpoint: LocalEndpoint) -> None:
    name = f"demo-{uuid.uuid4().hex[:6]}"
    request, reply = create_demo_queues(endpoint, name)
    sqs = boto3.client("sqs")
    assert sqs.get_queue_url(QueueName=f"{name}-requests")["QueueUrl"] == request
    assert sqs.get_queue_url(QueueName=f"{name}-replies")["QueueUrl"] == reply
    attributes = sqs.get_queue_attributes(QueueUrl=request, AttributeNames=["RedrivePolicy"])["Attributes"]
    # Above what a frame handed between workers may reach (receiving.HANDBACK_MAX_RECEIVES).
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] in (41, "41")
    assert not [t for t in boto3.client("sns").list_topics()["Topics"] if name in t["TopicArn"]]
    assert not [b for b in boto3.client("s3").list_buckets()["Buckets"] if name in b["Name"]]
    assert not [t for t in boto3.client("dynamodb").list_tables()["TableNames"] if name in t]


def test_provisioning_brings_an_older_request_queue_up_to_the_dead_letter_count(endpoint: LocalEndpoint) -> None:
    """A topology provisioned before with `maxReceiveCount` 5 is updated, not refused."""
    name = f"old-{uuid.uuid4().hex[:6]}"
    sqs = boto3.client("sqs")
    dead = sqs.create_queue(QueueName=f"{name}-requests-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    old = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"})
    sqs.create_queue(QueueName=f"{name}-requests", Attributes={"RedrivePolicy": old})
    request, _ = create_demo_queues(endpoint, name)
    attributes = sqs.get_queue_attributes(QueueUrl=request, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] in (41, "41")
