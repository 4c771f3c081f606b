"""Property tests of the SQS reply-queue policy, and of which SQS errors are permanent."""

from __future__ import annotations

import re

from hypothesis import assume, example, given
from hypothesis import strategies as st

from asyncmcp.channels.sqs.policy import SqsReplyPolicy, plain_queue_url

schemes = st.sampled_from(["http", "https"])
hosts = st.sampled_from(["sqs.us-east-1.amazonaws.com", "SQS.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com"])
accounts = st.sampled_from(["123456789012", "999999999999", "000000000000"])
queue_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=30) | st.just("q.fifo")
hostile_tails = st.sampled_from(
    ["?x=/victim", "#/victim", "/victim", "/", "/../victim", "%2Fvictim", "?", "#", ";victim", " ", "\\victim"]
)
"""What a client may append to an allowed reply queue URL to make a broker use another queue."""


@given(schemes, hosts, accounts, queue_names, schemes, hosts, accounts, queue_names)
def test_default_policy_allows_same_account_and_region_only(
    scheme: str, host: str, account: str, name: str, r_scheme: str, r_host: str, r_account: str, r_name: str
) -> None:
    policy = SqsReplyPolicy(f"{scheme}://{host}/{account}/{name}")
    reply = f"{r_scheme}://{r_host}/{r_account}/{r_name}"
    same = (scheme, host.lower(), account) == (r_scheme, r_host.lower(), r_account)
    itself = same and name == r_name  # the request queue is never a reply queue
    assert policy.allows(reply) == (same and not itself)
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


@given(schemes, hosts, accounts, queue_names, hostile_tails)
@example("https", "sqs.us-east-1.amazonaws.com", "123456789012", "allowed", "?x=/victim")
def test_only_plain_queue_urls_are_judged_so_the_queue_judged_is_the_queue_used(
    scheme: str, host: str, account: str, name: str, tail: str
) -> None:
    """Whatever follows a plain queue URL (a query, a fragment, another segment, an escape) could make
    a broker use another queue than the one judged (moto uses what follows the last `/`)."""
    request = f"{scheme}://{host}/{account}/requests"
    hostile = f"{scheme}://{host}/{account}/{name}{tail}"
    for policy in (SqsReplyPolicy(request), SqsReplyPolicy(request, (f"{scheme}://{host.lower()}/{account}/*",))):
        assert not policy.allows(hostile)
    assert plain_queue_url(hostile) is None


@given(schemes, hosts, accounts, queue_names)
def test_userinfo_odd_ports_and_spellings_of_the_request_queue_are_refused(
    scheme: str, host: str, account: str, name: str
) -> None:
    policy = SqsReplyPolicy(f"{scheme}://{host}/{account}/requests")
    assert not policy.allows(f"{scheme}://user@{host}/{account}/{name}")
    assert not policy.allows(f"{scheme}://{host}:99999/{account}/{name}")
    assert not policy.allows(f"{scheme}://{host}:/{account}/{name}")
    assert not policy.allows(f"{scheme}://{host}:44x/{account}/{name}")
    assert not policy.allows(f"{scheme}://{host}:8443/{account}/{name}")  # another endpoint
    default = {"http": 80, "https": 443}[scheme]
    assert policy.allows(f"{scheme}://{host}:{default}/{account}/{name}") == (name != "requests")
    assert not policy.allows(f"{scheme}://{host.upper()}:{default}/{account}/requests")


glob_parts = st.text(alphabet="ab/?#*-.:", max_size=12)


@given(st.lists(glob_parts, min_size=1, max_size=3), queue_names, queue_names)
def test_a_pattern_wildcard_matches_within_one_url_part(parts: list[str], name: str, other: str) -> None:
    pattern = "https://sqs.us-east-1.amazonaws.com/123456789012/" + "*".join(parts)
    policy = SqsReplyPolicy("https://sqs.us-east-1.amazonaws.com/123456789012/requests", (pattern,))
    address = f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
    expected = re.fullmatch(re.escape(pattern).replace(r"\*", "[^/?#]*").replace(r"\?", "[^/?#]"), address)
    assert policy.allows(address) == (expected is not None and name != "requests")
    assert "allowed_reply_queues" in policy.describe()
    # `*` never reaches into another segment, a query or a fragment.
    star = SqsReplyPolicy("https://sqs.us-east-1.amazonaws.com/123456789012/requests", ("https://*/123456789012/*",))
    assert star.allows(address) == (name != "requests")
    assert not star.allows(f"https://evil.example/x/123456789012/{name}")
    assert not star.allows(f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}/{other}")


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
