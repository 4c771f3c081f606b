"""SQS rules moto does not enforce, as `should_fail` predicates for the endpoint in tests/faults.py.

- `refuses_characters`: SQS carries only XML 1.0 characters in message bodies and attribute values
  (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF) and refuses anything else with
  `InvalidMessageContents`; moto stores whatever it is sent.
- `IamPolicy`: which calls an IAM policy allows, judged as IAM judges SQS calls (the batch calls by
  their single counterparts, a queue by its ARN); moto allows everything.

Both read the JSON request the real aiobotocore client sends, so what they judge is what the code
under test really asked of the broker.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from tests.faults import Refusal

__all__ = ["ACCOUNT", "INVALID_MESSAGE_CONTENTS", "IamPolicy", "carried", "refuses_characters"]

ACCOUNT = "123456789012"
"""The account moto puts in every queue URL."""

INVALID_MESSAGE_CONTENTS = Refusal(
    json.dumps(
        {
            "__type": "com.amazonaws.sqs#InvalidMessageContents",
            "message": "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
            "#xE000 to #xFFFD | #x10000 to #x10FFFF",
        }
    ),
    "InvalidMessageContents;Sender",
)

_NOT_CARRIED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_SEND_CALLS = ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch")


def _texts_sent(request: Any) -> list[str]:
    entries = request.get("Entries") or [request]
    texts: list[str] = []
    for entry in entries:
        texts.append(entry.get("MessageBody", ""))
        for value in (entry.get("MessageAttributes") or {}).values():
            texts.append(value.get("StringValue", ""))
    return texts


def carried(text: str) -> bool:
    """Whether SQS carries every character of `text`."""
    return _NOT_CARRIED.search(text) is None


def refuses_characters(operation: str, body: bytes) -> bool:
    """Whether SQS would refuse this call for a character it does not carry."""
    if operation not in _SEND_CALLS:
        return False
    return not all(carried(text) for text in _texts_sent(json.loads(body)))


_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass(frozen=True)
class IamPolicy:
    """The `Allow` statements of an IAM policy, with `REGION` and `ACCOUNT` filled in."""

    statements: tuple[dict[str, Any], ...]

    @classmethod
    def from_json(cls, text: str) -> IamPolicy:
        filled = text.replace("REGION", os.environ["AWS_REGION"]).replace("ACCOUNT", ACCOUNT)
        return cls(tuple(json.loads(filled)))

    def denies(self, operation: str, body: bytes) -> bool:
        """Whether this policy denies the SQS call (`X-Amz-Target`, JSON body)."""
        if not operation.startswith("AmazonSQS."):
            return False
        name = operation.removeprefix("AmazonSQS.")
        action = f"sqs:{_BATCH_ACTIONS.get(name, name)}"
        return not self.allows(action, _resource(json.loads(body or b"{}")))

    def allows(self, action: str, resource: str) -> bool:
        for statement in self.statements:
            actions = _as_list(statement["Action"])
            resources = _as_list(statement["Resource"])
            if statement.get("Effect") != "Allow":
                continue
            if any(fnmatchcase(action, a) for a in actions) and any(fnmatchcase(resource, r) for r in resources):
                return True
        return False


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _resource(request: Any) -> str:
    region = os.environ["AWS_REGION"]
    if "QueueUrl" in request:
        account, name = urlsplit(request["QueueUrl"]).path.strip("/").split("/")
        return f"arn:aws:sqs:{region}:{account}:{name}"
    if "QueueName" in request:
        return f"arn:aws:sqs:{region}:{ACCOUNT}:{request['QueueName']}"
    return "*"
