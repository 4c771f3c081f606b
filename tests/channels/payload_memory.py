"""Child process of the claim-check memory test: traced memory while one large frame goes through S3.

`python -m tests.channels.payload_memory QUEUE_URL BUCKET BYTES` sends one frame of BYTES characters
through the SQS channel with a payload bucket, receives it back, and prints one JSON line: the
peak of memory allocated while sending (beyond the frame itself) and while receiving (the frame
that arrives included), from `tracemalloc`, so nothing the parent loaded is counted.
"""

from __future__ import annotations

import json
import sys
import tracemalloc

import anyio

from asyncmcp.channels.claim_check import ClaimCheck, S3Api
from asyncmcp.channels.payload_settings import PayloadSettings
from asyncmcp.channels.sqs.api import SqsApi
from asyncmcp.channels.sqs.channel import SqsChannel
from asyncmcp.codec import Frame


async def measure(queue: str, bucket: str, size: int) -> dict[str, int]:
    async with (
        SqsApi() as api,
        S3Api() as s3,
        SqsChannel(
            api, wait_time_seconds=1, payloads=ClaimCheck(s3, PayloadSettings(payload_bucket=bucket))
        ) as channel,
    ):
        frame = Frame("m" * size)
        tracemalloc.start()
        await channel.send(queue, frame)
        _, send_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del frame
        tracemalloc.start()
        deliveries = []
        while not deliveries:
            deliveries = await channel.receive(queue, 1)
        received, receive_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(deliveries[0].frame.body) == size
        deliveries[0].ack()
        return {"size": size, "send_peak": send_peak, "receive_peak": receive_peak, "received": received}


if __name__ == "__main__":
    print(json.dumps(anyio.run(measure, sys.argv[1], sys.argv[2], int(sys.argv[3]))))
