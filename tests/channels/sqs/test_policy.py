"""Property tests of the SQS reply-queue policy, and of which SQS errors are permanent."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from asyncmcp.channels.sqs.policy import SqsReplyPolicy

schemes = st.sampled_from(["http", "https"])
hosts = st.sampled_from(["sqs.us-east-1.amazonaws.com", "SQS.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com"])
accounts = st.sampled_from(["123456789012", "999999999999", "000000000000"])
queue_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=30)


@given(schemes, hosts, accounts, queue_names, schemes, hosts, accounts, queue_names)
def test_default_policy_allows_same_account_and_region_only(
    scheme: str, host: str, account: str, name: str, r_scheme: str, r_host: str, r_account: str, r_name: str
) -> None:
    policy = SqsReplyPolicy(f"{scheme}://{host}/{account}/{name}")
    reply = f"{r_scheme}://{r_host}/{r_account}/{r_name}"
    same = (scheme, host.lower(), account) == (r_scheme, r_host.lower(), r_account)
    assert policy.allows(reply) == same
    assert account in policy.describe()


@given(schemes, hosts, accounts, queue_names, st.lists(queue_names, min_size=2, max_size=4))
def test_default_policy_refuses_other_shapes(
    scheme: str, host: str, account: str, name: str, segments: list[str]
) -> None:
    policy = SqsReplyPolicy(f"{scheme}://{host}/{account}/{name}")
    assert not policy.allows(f"{scheme}://{host}/{account}/{'/'.join(segments)}")  # extra segments
    assert not policy.allows(f"{scheme}://{host}/{name}")  # no account segment
    assert not policy.allows(f"ftp://{host}/{account}/{name}")
    assert not policy.allows(f"{scheme}://evil@{host}.example/{account}/{name}")
    assert not policy.allows(f"{account}/{name}")
    assert not policy.allows("")


@given(st.lists(st.text(max_size=30), max_size=4), st.text(max_size=60))
def test_pattern_policy_is_fnmatch(patterns: list[str], address: str) -> None:
    from fnmatch import fnmatchcase

    policy = SqsReplyPolicy("https://sqs.us-east-1.amazonaws.com/123456789012/requests", tuple(patterns))
    assert policy.allows(address) == any(fnmatchcase(address, p) for p in patterns)
    assert "allowed_reply_queues" in policy.describe()


@given(queue_names)
def test_pattern_policy_replaces_the_default(name: str) -> None:
    request = "https://sqs.us-east-1.amazonaws.com/123456789012/requests"
    allowed = "https://sqs.us-east-1.amazonaws.com/123456789012/replies-*"
    policy = SqsReplyPolicy(request, (allowed,))
    assert policy.allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/replies-{name}")
    assume(not name.startswith("replies-"))
    assert not policy.allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}")
    # An empty allowlist allows nothing, not everything.
    assert not SqsReplyPolicy(request, ()).allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}")


def test_policy_without_account_segment_allows_nothing() -> None:
    policy = SqsReplyPolicy("http://127.0.0.1:4566/requests")
    assert not policy.allows("http://127.0.0.1:4566/requests")
    assert "allowed_reply_queues" in policy.describe()


def test_sqs_says_which_of_its_error_codes_retrying_cannot_fix() -> None:
    from asyncmcp.channels.sqs.api import is_permanent
    from asyncmcp.errors import AddressNotFoundError, ChannelError, FrameTooLargeError

    assert AddressNotFoundError("gone", address="q").permanent
    assert FrameTooLargeError(size=2, limit=1, address="q").permanent
    assert is_permanent("AccessDenied")
    assert is_permanent("AWS.SimpleQueueService.NonExistentQueue")
    assert not is_permanent("ThrottlingException")
    assert not is_permanent("RequestThrottled")
    assert not is_permanent(None)
    assert not ChannelError("connection reset").permanent
