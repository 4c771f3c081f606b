"""Frames too large for a queue or topic travel through S3: the claim-check of the AWS extended clients.

A frame over the threshold (by default the destination's own limit, attributes included) is written
to an S3 object and the message carries a pointer instead, in the wire format of the AWS "extended
client" libraries (Java `amazon-sqs-java-extended-client-lib`, Python `amazon-sqs-extended-client`):
the body `["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": ..., "s3Key": ...}]`
and a `Number` attribute `ExtendedPayloadSize` with the payload's UTF-8 length. Those tools read
asyncmcp's large messages and asyncmcp reads theirs. The engine never sees any of this: it sends
and receives frames of any size.

A pointer is attacker input (anyone who may send to a queue can write one), so resolving it is
bounded: only allowed buckets are read, the key's length and the object's size are checked (the
size before the body is read), and a pointer that cannot be resolved becomes a frame marked
`unreadable`, which the receiver answers with a JSON-RPC error instead of stopping.

Memory: an object is read into one buffer of its announced size and decoded from it, so a receiver
holds at most the bytes and the text at once (two copies), then only the text. A frame above
`MULTIPART_ABOVE_CHARS` is encoded and uploaded a part at a time, so a sender holds its frame plus
one part, never a second full copy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

import anyio

from asyncmcp.channels.aws import AwsApi, AwsService
from asyncmcp.channels.payload_settings import PayloadSettings
from asyncmcp.codec import ATTR_CLIENT_ID, Frame, as_mapping
from asyncmcp.errors import ChannelError

__all__ = [
    "ATTR_PAYLOAD_SIZE",
    "LEGACY_ATTR_PAYLOAD_SIZE",
    "POINTER_CLASS",
    "S3",
    "ClaimCheck",
    "PayloadPointer",
    "S3Api",
    "create_payload_bucket",
    "is_pointer",
    "message_attribute",
    "open_claim_check",
    "unresolvable",
]

logger = logging.getLogger(__name__)

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
"""The first element of a pointer body, as the current extended clients write it."""
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
"""What older Java extended clients wrote; still read."""
ATTR_PAYLOAD_SIZE = "ExtendedPayloadSize"
"""The attribute that marks an offloaded message (receivers detect it by this, not by the body)."""
LEGACY_ATTR_PAYLOAD_SIZE = "SQSLargePayloadSize"
"""The same, as older extended clients (`use_legacy_attribute`) write it; still read."""
NUMBER_ATTRIBUTES = frozenset({ATTR_PAYLOAD_SIZE, LEGACY_ATTR_PAYLOAD_SIZE})
"""Attributes sent with DataType `Number` (every other asyncmcp attribute is a `String`)."""

MAX_KEY_BYTES = 1024
"""S3's own limit on a key; a longer one in a pointer is not S3's and is refused unread."""

MULTIPART_ABOVE_CHARS = 16 * 1024 * 1024
"""Frames longer than this go up as a multipart upload, encoded a part at a time, so the sender
never holds a second full copy; smaller ones take one PutObject (one billable call)."""
PART_CHARS = 8 * 1024 * 1024
"""Characters per uploaded part: at least S3's 5 MiB minimum part once encoded, and what a sender
holds beyond its frame (the part's text and bytes)."""
READ_CHUNK_BYTES = 1024 * 1024
"""How much of an object is read at a time into the receiver's one buffer."""

DELETE_TIMEOUT_SECONDS = 10.0
"""Bound on deleting a resolved payload object after its message was deleted (a lifecycle rule is the backstop)."""

_KEY_PART_OK = re.compile(r"[^A-Za-z0-9_.-]")

S3 = AwsService(
    name="s3",
    label="S3",
    noun="bucket",
    not_found=frozenset({"NoSuchBucket", "NoSuchKey", "NotFound", "404"}),
    permanent=frozenset({"AccessDenied", "AllAccessDisabled", "InvalidBucketName", "InvalidObjectState", "403"}),
    missing_hint="create the bucket (`asyncmcp local` creates one) or correct --payload-bucket",
)


class S3Api(AwsApi):
    """Async S3 calls over whichever client the user gave (boto3, aiobotocore, or None)."""

    def __init__(self, client: Any | None = None, *, region: str | None = None) -> None:
        super().__init__(S3, client, region=region)


def message_attribute(name: str, value: str) -> dict[str, str]:
    """One SQS/SNS message attribute: a `String`, except the extended clients' `Number` size attribute."""
    return {"DataType": "Number" if name in NUMBER_ATTRIBUTES else "String", "StringValue": value}


@dataclass(frozen=True)
class PayloadPointer:
    """Where an offloaded payload lives."""

    bucket: str
    key: str

    def body(self) -> str:
        """The message body that points here, exactly as the extended clients write it."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])

    @property
    def address(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _label(address: str) -> str:
    """The name part of a queue URL or topic ARN, safe in a key (`mcp-replies`)."""
    name = address.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return _KEY_PART_OK.sub("-", name)[:80] or "address"


def is_pointer(frame: Frame) -> bool:
    """Whether `frame` is an offloaded message (by its size attribute, as the extended clients tell)."""
    return any(name in frame.attributes for name in NUMBER_ATTRIBUTES)


def _without_size(frame: Frame) -> dict[str, str]:
    return {name: value for name, value in frame.attributes.items() if name not in NUMBER_ATTRIBUTES}


def unresolvable(frame: Frame) -> Frame:
    """A pointer received where no payload bucket is set: unreadable, saying what to set."""
    return replace(
        frame,
        attributes=_without_size(frame),
        unreadable="it is an S3 pointer (a large message offloaded by its sender), and this side has no payload "
        "bucket set: set the same --payload-bucket (payload_bucket) on both sides",
    )


class PayloadRefusedError(Exception):
    """A pointer this side will not (or cannot) resolve; the message says why, for the JSON-RPC error."""


class ClaimCheck:
    """Writes large frames to S3 and resolves received pointers (see the module docstring)."""

    def __init__(self, api: S3Api, settings: PayloadSettings) -> None:
        if settings.payload_bucket is None:
            raise ValueError("ClaimCheck needs a payload_bucket")
        self.api = api
        self.bucket = settings.payload_bucket
        self.allowed = frozenset(settings.allowed_payload_buckets or (settings.payload_bucket,))
        self.threshold = settings.payload_threshold_bytes
        self.keep = settings.keep_payloads
        self.max_payload_bytes = settings.max_payload_bytes

    # -- sending ---------------------------------------------------------------------------

    def needed(self, size: int, limit: int) -> bool:
        """Whether a frame of `size` bytes (as the channel counts them) goes through S3."""
        return size > min(limit, self.threshold or limit)

    async def offload(self, address: str, frame: Frame) -> Frame:
        """Write `frame`'s body to S3; the frame that points to it (same attributes plus the size).

        The key says where the message goes and for which client:
        `asyncmcp/<queue or topic name>/<client id>/<random>`.
        """
        client = _KEY_PART_OK.sub("-", frame.attributes.get(ATTR_CLIENT_ID, ""))[:100] or "anonymous"
        pointer = PayloadPointer(self.bucket, f"asyncmcp/{_label(address)}/{client}/{uuid.uuid4().hex}")
        body = frame.body
        if len(body) > MULTIPART_ABOVE_CHARS:
            size = await self._upload_in_parts(pointer, body)
        else:
            data = body.encode()
            size = len(data)
            await self.api.call(
                "PutObject",
                "put_object",
                pointer.address,
                Bucket=pointer.bucket,
                Key=pointer.key,
                Body=data,
                ContentType="application/json",
            )
            del data
        logger.debug("offloaded a %d-byte frame for %s to %s", size, address, pointer.address)
        return replace(frame, body=pointer.body(), attributes={**frame.attributes, ATTR_PAYLOAD_SIZE: str(size)})

    async def _upload_in_parts(self, pointer: PayloadPointer, body: str) -> int:
        where = dict(Bucket=pointer.bucket, Key=pointer.key)
        started = await self.api.call(
            "CreateMultipartUpload",
            "create_multipart_upload",
            pointer.address,
            ContentType="application/json",
            **where,
        )
        upload_id = str(started["UploadId"])
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            for number, start in enumerate(range(0, len(body), PART_CHARS), start=1):
                data = body[start : start + PART_CHARS].encode()
                size += len(data)
                uploaded = await self.api.call(
                    "UploadPart",
                    "upload_part",
                    pointer.address,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    **where,
                )
                del data
                parts.append({"ETag": uploaded["ETag"], "PartNumber": number})
            await self.api.call(
                "CompleteMultipartUpload",
                "complete_multipart_upload",
                pointer.address,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **where,
            )
        except BaseException:
            with anyio.move_on_after(DELETE_TIMEOUT_SECONDS, shield=True):
                try:
                    await self.api.call(
                        "AbortMultipartUpload", "abort_multipart_upload", pointer.address, UploadId=upload_id, **where
                    )
                except ChannelError as exc:
                    logger.warning("could not abort the upload to %s: %s", pointer.address, exc)
            raise
        return size

    # -- receiving -------------------------------------------------------------------------

    async def resolve(self, frame: Frame) -> tuple[Frame, PayloadPointer | None]:
        """The frame a pointer stands for, and where its object is (to delete once handled).

        A frame that is no pointer comes back as it is. A pointer that is refused or cannot be read
        comes back `unreadable`, saying why; it is never raised, so one bad message cannot stop a
        receive loop.
        """
        if not is_pointer(frame):
            return frame, None
        attributes = _without_size(frame)
        try:
            pointer = self._check(frame)
            body = await self._read(pointer)
        except PayloadRefusedError as exc:
            logger.warning("could not resolve an offloaded message: %s", exc)
            return replace(frame, attributes=attributes, unreadable=str(exc)), None
        return replace(frame, body=body, attributes=attributes), pointer

    def _check(self, frame: Frame) -> PayloadPointer:
        declared = next(frame.attributes[name] for name in NUMBER_ATTRIBUTES if name in frame.attributes)
        if not declared.isdigit():
            raise PayloadRefusedError(f"its {ATTR_PAYLOAD_SIZE} attribute {declared[:40]!r} is not a byte count")
        if int(declared) > self.max_payload_bytes:
            raise PayloadRefusedError(self._too_large(int(declared)))
        pointer_class, bucket, key = _pointer_fields(frame.body)
        if pointer_class not in (POINTER_CLASS, LEGACY_POINTER_CLASS) or not isinstance(bucket, str):
            raise PayloadRefusedError(
                f'its body is not an S3 pointer (["{POINTER_CLASS}", {{"s3BucketName": ..., "s3Key": ...}}])'
            )
        if bucket not in self.allowed:
            raise PayloadRefusedError(
                f"its payload is in S3 bucket {bucket[:63]!r}, which this side does not read (allowed: "
                f"{', '.join(sorted(self.allowed))}); send through an allowed bucket or allow this one "
                "(--allow-payload-bucket)"
            )
        if not isinstance(key, str) or not key or len(key.encode()) > MAX_KEY_BYTES:
            raise PayloadRefusedError(f"its S3 key is missing or longer than {MAX_KEY_BYTES} bytes")
        return PayloadPointer(bucket, key)

    def _too_large(self, size: int) -> str:
        return (
            f"its payload of {size} bytes exceeds the {self.max_payload_bytes}-byte limit of this side "
            "(max_payload_bytes); send smaller payloads"
        )

    async def _read(self, pointer: PayloadPointer) -> str:
        """The object's text, read into one buffer of its announced size (checked before any byte is read)."""
        try:
            response = await self.api.call(
                "GetObject", "get_object", pointer.address, Bucket=pointer.bucket, Key=pointer.key
            )
        except ChannelError as exc:
            gone = exc.code in S3.not_found
            reason = "it does not exist (deleted after an earlier delivery, or expired)" if gone else str(exc)
            raise PayloadRefusedError(f"its payload {pointer.address} could not be read: {reason}") from None
        stream: Any = response["Body"]
        try:
            length = int(response.get("ContentLength", -1))
            if length < 0 or length > self.max_payload_bytes:
                raise PayloadRefusedError(self._too_large(length))
            buffer = bytearray(length)
            view = memoryview(buffer)
            filled = 0
            while filled < length:
                chunk = await _read_chunk(stream, min(READ_CHUNK_BYTES, length - filled))
                if not chunk:
                    break
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
            view.release()
            if filled != length:
                raise PayloadRefusedError(f"its payload {pointer.address} ended after {filled} of {length} bytes")
            try:
                return buffer.decode()
            except UnicodeDecodeError:
                raise PayloadRefusedError(f"its payload {pointer.address} is not UTF-8 text") from None
        finally:
            stream.close()

    async def discard(self, pointer: PayloadPointer) -> None:
        """Delete a resolved payload object once its message is gone (unless kept); never raises."""
        if self.keep:
            return
        with anyio.move_on_after(DELETE_TIMEOUT_SECONDS, shield=True):
            try:
                await self.api.call(
                    "DeleteObject", "delete_object", pointer.address, Bucket=pointer.bucket, Key=pointer.key
                )
            except ChannelError as exc:
                logger.warning("could not delete payload %s (a lifecycle rule will): %s", pointer.address, exc)


def _pointer_fields(body: str) -> tuple[object, object, object]:
    """(class, bucket, key) of a pointer body; None for each part that is not there."""
    try:
        raw: object = json.loads(body)
    except ValueError:
        return None, None, None
    if not isinstance(raw, list):
        return None, None, None
    items = cast("list[object]", raw)
    fields = as_mapping(items[1]) if len(items) == 2 else None
    if fields is None:
        return None, None, None
    return items[0], fields.get("s3BucketName"), fields.get("s3Key")


async def _read_chunk(stream: Any, size: int) -> bytes:
    """Up to `size` bytes of an aiobotocore body (awaited) or a boto3 one (on a worker thread)."""
    if asyncio.iscoroutinefunction(stream.read):
        return await stream.read(size)
    return await anyio.to_thread.run_sync(stream.read, size)


async def create_payload_bucket(name: str, clients: Mapping[str, Any]) -> str:
    """Create the payload bucket `name` (idempotent, private by default); returns its name.

    A bucket outside us-east-1 needs its region named at creation (`LocationConstraint`).
    """
    async with S3Api(clients.get("s3_client")) as api:
        where = {"CreateBucketConfiguration": {"LocationConstraint": api.region}} if api.region != "us-east-1" else {}
        try:
            await api.call("CreateBucket", "create_bucket", name, Bucket=name, **where)
        except ChannelError as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    return name


@asynccontextmanager
async def open_claim_check(
    settings: PayloadSettings, clients: Mapping[str, Any], *, region: str | None = None
) -> AsyncIterator[ClaimCheck | None]:
    """The claim-check of a channel config, or None when it sets no `payload_bucket`.

    `clients["s3_client"]` is used when given (boto3 or aiobotocore), else a shared client is built
    for `region` (the queue's) from the default credential chain.
    """
    if settings.payload_bucket is None:
        yield None
        return
    async with S3Api(clients.get("s3_client"), region=region) as api:
        yield ClaimCheck(api, settings)
