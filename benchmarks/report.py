"""The markdown report: machine, a table of medians from one run, targets met or not, and method.

Rendering is separate from measuring so a partial run (the smoke test measures only round trips)
renders whatever it has; every figure is printed next to the floor it is judged against and the
ratio of the two, because on this machine only ratios survive the drift between minutes, and only
ratios carry over from the embedded endpoint to real SQS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from asyncmcp.channels.sqs.channel import DELETE_LINGER_SECONDS
from benchmarks.cost import PRICE_PER_MILLION_REQUESTS, PRICE_PER_MILLION_SNS_PUBLISHES, CallCost
from benchmarks.first_result import FirstResults
from benchmarks.hybrid import HeldOpen
from benchmarks.latency import QUIET_SECONDS, IdleResult, RoundTrips
from benchmarks.memory import ClientMemory, ServerMemory
from benchmarks.payloads import PayloadTrips, is_s3_call, s3_dollars
from benchmarks.pipeline import Pipeline
from benchmarks.server import WORK_SECONDS
from benchmarks.stats import median, percentile, ratio
from benchmarks.tasks import POLL_INTERVAL_MS, TaskFigures, cost_per_task
from benchmarks.throughput import Throughput
from benchmarks.webhook import SLOW_RECEIVER_SECONDS, Fanout

__all__ = ["Report", "render"]

NOT_YET = "not available yet"
TOO_SHORT = "not judged (idle window too short: --quick)"


@dataclass
class Report:
    machine: dict[str, str] = field(default_factory=dict[str, str])
    quick: bool = False
    failed_sections: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    """Sections that failed or hung (name, reason): reported, and the run went on without them."""
    seconds: float = math.nan
    back_to_back: RoundTrips | None = None
    round_trips: RoundTrips | None = None
    first_results: FirstResults | None = None
    idle: IdleResult | None = None
    cost: list[CallCost] = field(default_factory=list[CallCost])
    sns: RoundTrips | None = None
    sns_cost: list[CallCost] = field(default_factory=list[CallCost])
    webhook: RoundTrips | None = None
    fanout: Fanout | None = None
    hybrid: RoundTrips | None = None
    held_open: HeldOpen | None = None
    bridge: RoundTrips | None = None
    payloads: PayloadTrips | None = None
    throughput: Throughput | None = None
    sns_throughput: Throughput | None = None
    pipeline: Pipeline | None = None
    server_memory: ServerMemory | None = None
    client_memory: ClientMemory | None = None
    tasks: TaskFigures | None = None


MOVED_SINCE = "2026-12-02 15:58 UTC (at 6c5e779)"
"""The date of the run before, which `MOVED` compares with."""

MOVED = [
    "- **Time to first result, a new row**: against a server that lets clients keep its `server/discover` "
    "answer as well as its listing (SEP-2549 `ttlMs` on both), a new client of a process that kept them opens "
    "without an exchange and its first result is one round trip: 1.19x a warm round trip. The rows without "
    "that hint did not move beyond their spread (pre-created 2.71x to 2.63x, kept listing 2.28x to 2.31x, own "
    "receiver 2.78x to 2.69x, temporary 2.81x to 2.73x; the previous note measured about ±0.15x run to run).",
    "- **Figures whose code did not change, moving within their noise**: the first call after an idle pause "
    "(3 pauses: 0.80x to 0.95x), the webhook fan-out (0.96x to 1.05x), 2 workers against 1 (1.92x to "
    "1.83x), the hybrid inline tool at 2026-07-28 (0.97x to 1.06x; at 2025-11-25 1.07x to 1.03x). This "
    "change touches only what a client opened by `connect()` sends first and the first-result section.",
]
"""Why figures moved since the run before (rendered at the end of a full run; edit with each recorded run)."""


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _delta_ms(seconds: float) -> str:
    """A signed difference in ms; one that rounds to zero reads `+0.0 ms`, never `-0.0 ms`."""
    milliseconds = round(seconds * 1000, 1)
    return f"{milliseconds + 0.0:+.1f} ms"


def _x(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def _mb(size: float) -> str:
    return f"{size / 1_048_576:.1f} MiB"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _met(ok: bool | None) -> str:
    return NOT_YET if ok is None else ("**met**" if ok else "**not met**")


def _latency_rows(trips: RoundTrips) -> list[list[str]]:
    series = trips.series
    raw = median(series.get("raw", []))
    http_raw = median(series.get("http-raw", []))
    rows: list[list[str]] = []

    def row(label: str, name: str, floor_label: str, floor: float) -> None:
        samples = series.get(name, [])
        if not samples:
            return
        p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
        rows.append(
            [label, str(len(samples)), _ms(p50), _ms(p90), _ms(p99), floor_label, _x(ratio(median(samples), floor))]
        )

    row("SQS raw floor: send → long-poll receive → delete, request queue then reply queue (aiobotocore, no MCP)",
        "raw", "itself", raw)  # fmt: skip
    row("tools/call `echo` over SQS, 2026-07-28 (`Client` default mode)", "modern", "SQS raw floor", raw)
    row('tools/call `echo` over SQS, 2025-11-25 (`mode="legacy"`)', "legacy", "SQS raw floor", raw)
    row("tools/call `echo` over SQS through the proxy (`asyncmcp proxy` process, Streamable HTTP, 2026-07-28)", "proxy",
        "SQS raw floor", raw)  # fmt: skip
    if "proxy" in series and "modern" in series:
        rows.append([
            "… the same proxied tools/call against the direct SQS call (client transport, same worker)", "", "", "",
            "", "direct 2026-07-28 call", _x(ratio(median(series["proxy"]), median(series["modern"]))),
        ])  # fmt: skip
    row("tools/call `echo` over SQS through the proxy's stdio front (`asyncmcp proxy --stdio` child process, "
        "2026-07-28)", "proxy-stdio", "SQS raw floor", raw)  # fmt: skip
    if "proxy-stdio" in series and "modern" in series:
        rows.append([
            "… the same stdio-proxied tools/call against the direct SQS call", "", "", "", "",
            "direct 2026-07-28 call", _x(ratio(median(series["proxy-stdio"]), median(series["modern"]))),
        ])  # fmt: skip
    row("HTTP round trip to the proxy process, no MCP: GET `/healthz` (httpx2)", "proxy-raw", "itself",
        median(series.get("proxy-raw", [])))  # fmt: skip
    row(
        "HTTP raw floor: plain POST to a bare route on the same uvicorn server (httpx2)", "http-raw", "itself", http_raw
    )
    row("tools/call `echo` over direct Streamable HTTP (same `MCPServer`, uvicorn, 127.0.0.1)",
        "http", "HTTP raw floor", http_raw)  # fmt: skip
    if "http" in series and raw:
        rows.append([
            "… the same Streamable HTTP tools/call against the SQS raw floor", "", "", "", "", "SQS raw floor",
            _x(ratio(median(series["http"]), raw)),
        ])  # fmt: skip
    return rows


def _trip_table(series: dict[str, list[float]], rows: Sequence[tuple[str, str]], floor_name: str) -> list[list[str]]:
    floor = median(series.get(floor_name, []))
    out: list[list[str]] = []
    for label, name in rows:
        samples = series.get(name, [])
        if not samples:
            continue
        p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
        judged = "itself" if name == floor_name else "raw floor"
        out.append([label, str(len(samples)), _ms(p50), _ms(p90), _ms(p99), judged,
                    _x(ratio(median(samples), floor))])  # fmt: skip
    return out


_TRIP_HEADER = ["figure", "samples", "p50", "p90", "p99", "floor", "median / floor"]


def _back_to_back(trips: RoundTrips, targets: list[list[str]]) -> list[str]:
    out = ["## Round trip, back to back (one client, one call right after another)", ""]
    rows = [
        ("SQS raw floor: send → long-poll receive → delete, request queue then reply queue (aiobotocore, no MCP)",
         "raw"),
        ("tools/call `echo` over SQS, 2026-07-28 (`Client` default mode)", "modern"),
        ('tools/call `echo` over SQS, 2025-11-25 (`mode="legacy"`)', "legacy"),
    ]  # fmt: skip
    out += _table(_TRIP_HEADER, _trip_table(trips.series, rows, "raw"))
    out += [
        "What an agent does: each call starts the moment the previous answer is back, so whatever a call "
        "leaves behind (its deletes, a poll being rebuilt) is paid by the next. The raw floor awaits its six "
        "calls one after another. The transport's deletes wait up to 2 s to share one DeleteMessageBatch "
        "(docs/architecture.md), so they are neither on the path of the answer nor of the next call.",
        "",
    ]
    raw = median(trips.series.get("raw", []))
    for name, era in (("modern", "2026-07-28"), ("legacy", "2025-11-25")):
        if name in trips.series:
            value = ratio(median(trips.series[name]), raw)
            targets.append(
                [f"back-to-back tools/call p50 <= 0.8x raw SQS floor ({era})", _x(value), _met(value <= 0.8)]
            )
    return out


def _first_results(first: FirstResults, targets: list[list[str]]) -> list[str]:
    warm = median(first.warm)
    pre = ratio(median(first.precreated), warm)
    temp = ratio(median(first.temporary), warm)
    rows = [
        ["warm round trip on an open client (the floor)", str(len(first.warm)), _ms(warm), "itself", "1.00x"],
        ["new client, pre-created reply queue, warm process (joins the process's receiver of that queue)",
         str(len(first.precreated)), _ms(median(first.precreated)), "warm round trip", _x(pre)],
    ]  # fmt: skip
    kept = ratio(median(first.kept_listing), warm) if first.kept_listing else None
    if kept is not None:
        rows.append(["… the same against a server that lets clients keep its listing (`ttlMs` 60 s)",
                     str(len(first.kept_listing)), _ms(median(first.kept_listing)), "warm round trip",
                     _x(kept)])  # fmt: skip
    both = ratio(median(first.kept_both), warm) if first.kept_both else None
    if both is not None:
        rows.append(["… the same against a server that lets clients keep its `server/discover` answer and its "
                     "listing (`ttlMs` 60 s each): one exchange", str(len(first.kept_both)),
                     _ms(median(first.kept_both)), "warm round trip", _x(both)])  # fmt: skip
    if first.own_receiver:
        own = ratio(median(first.own_receiver), warm)
        rows.append(["… the same with a receiver of its own (its first poll on the path)", str(len(first.own_receiver)),
                     _ms(median(first.own_receiver)), "warm round trip", _x(own)])  # fmt: skip
    rows.append(["new client, temporary reply queue (`CreateQueue` first), warm process", str(len(first.temporary)),
                 _ms(median(first.temporary)), "warm round trip", _x(temp)])  # fmt: skip
    out = ["## Time to first result (open a client, first call_tool answered)", ""]
    out += _table(["figure", "samples", "median", "floor", "median / floor"], rows)
    if first.exchanges:
        per = ratio(median(first.precreated), 2 * warm)
        out += _table(
            ["figure", "value"],
            [["send calls a new client makes before its first result (SendMessage and SendMessageBatch)",
              str(first.exchanges)],
             ["… the pre-created-queue first result against 2 warm round trips (`server/discover`, then the call)",
              _x(per)]],
        )  # fmt: skip
    out += [
        "A warm process already serves or calls (its AWS client exists: connections of one process share "
        "it; and connections opened from one config that names a reply queue share one receiver of it, so a "
        "new client of a process that already calls with that config finds its replies already being read: "
        "the pre-created row, measured next to a resident connection). mcp 2.3's `Client` sends "
        "`server/discover` (auto mode), then the call, and then `tools/list`: it "
        "lists the tools after the first call of a tool it has not listed, to check the result against the "
        "tool's output schema, before it returns the result. The transport sends that listing beside the call "
        "and answers the session's own with it (docs/architecture.md), so the first result waits for two round "
        "trips one after the other where a warm call waits for one; the per-round-trip row shows what opening "
        "a client adds on top. Most of it is that listing: it rides with the call, but on the embedded endpoint "
        "each message costs the broker time, on each side: traced on this machine (6 first results), a "
        "SendMessage of one message took 10-14 ms, and the SendMessageBatch of the call and its listing "
        "18-23 ms (so did the worker's batch of their two answers). "
        "A server can let its clients keep that listing: SEP-2549 gives `tools/list` results a freshness "
        'hint (`ttlMs`, set with `MCPServer(cache_hints={"tools/list": CacheHint(ttl_ms=...)})`). Then a '
        "process keeps the listing one connection got for its connections of the same config "
        "(`client/kept_answers.py`), and a new client's first call travels alone while it is fresh: the "
        "row marked `ttlMs` 60 s, against a second worker serving the same tools with that hint (one client "
        "a minute lists, when the kept listing runs out). Without the hint (the SDK's default, the "
        "pre-created row) every new client lists. What is left over two round trips with the listing kept, "
        "traced on this machine (40 samples, medians): the discover and call exchanges took 37.4 and 38.7 ms "
        "against 37.3 ms for a warm call's exchange; the client's own work came to 8.6 ms (2.1 ms from "
        "opening to the discover send, 2.1 ms from its answer to the call, 4.4 ms from the result to the "
        "return, most of it the SDK compiling the output schema's validator for the new session) against "
        "1.6 ms for a warm call. The `server/discover` answer takes the same hint "
        '(`cache_hints={"server/discover": CacheHint(...), ...}`): a new client of a process that kept it '
        "opens without an exchange, so its first result is the call's one round trip and the client's own "
        "work (the one-exchange row, against a third worker; its target is tightened to 1.5x, since the "
        "issue's 2.2x counts two exchanges).",
        "",
    ]
    if first.new_process:
        parts = ["import", "open", "first_call", "total"]
        cells = [_ms(median([run[part] for run in first.new_process])) for part in parts]
        out += _table(
            ["new process (`python -m benchmarks.first_call`)", "import asyncmcp + mcp",
             "open (AWS client, temporary queue, server/discover)", "first call", "total"],
            [[f"median of {len(first.new_process)} processes", *cells]],
        )  # fmt: skip
    if both is not None:
        targets.append(["first result, warm process, pre-created reply queue <= 1.5x a warm round trip "
                        "(server lets clients keep its discover and listing: one exchange)", _x(both),
                        _met(both <= 1.5)])  # fmt: skip
    if kept is not None:
        targets.append(["first result, warm process, pre-created reply queue <= 2.2x a warm round trip "
                        "(server lets clients keep its listing: two exchanges, as the issue counts)", _x(kept),
                        _met(kept <= 2.2)])  # fmt: skip
    targets.append(["first result, warm process, pre-created reply queue <= 2.2x a warm round trip "
                    "(server without hints)", _x(pre), _met(pre <= 2.2)])  # fmt: skip
    targets.append(["first result, warm process, temporary reply queue <= 3.0x a warm round trip", _x(temp),
                    _met(temp <= 3.0)])  # fmt: skip
    return out


def _cost_rows(costs: Sequence[CallCost]) -> list[list[str]]:
    return [
        [c.label, str(c.tool_calls), ", ".join(f"{name} {count}" for name, count in sorted(c.calls.items())),
         f"{c.per_call:.2f}", f"${c.dollars_per_million_calls:.2f}"]
        for c in costs
    ]  # fmt: skip


def _sns(trips: RoundTrips | None, costs: Sequence[CallCost], targets: list[list[str]]) -> list[str]:
    out = ["## SNS+SQS", ""]
    if trips is not None:
        rows = [
            ("SNS raw floor: publish → long-poll receive (raw delivery) → delete, request then reply (no MCP)",
             "sns-raw"),
            ("tools/call `echo` over SNS+SQS, 2026-07-28", "sns-modern"),
            ('tools/call `echo` over SNS+SQS, 2025-11-25 (`mode="legacy"`)', "sns-legacy"),
        ]  # fmt: skip
        out += _table(_TRIP_HEADER, _trip_table(trips.series, rows, "sns-raw"))
        out += ["Back to back, interleaved call by call. moto delivers from SNS to SQS inside Publish; real SNS "
                "adds its own delivery latency to both.", ""]  # fmt: skip
        raw = median(trips.series.get("sns-raw", []))
        for name, era in (("sns-modern", "2026-07-28"), ("sns-legacy", "2025-11-25")):
            if name in trips.series:
                value = ratio(median(trips.series[name]), raw)
                targets.append([f"SNS+SQS tools/call p50 <= 1.0x its raw floor ({era})", _x(value),
                                _met(value <= 1.0)])  # fmt: skip
    if costs:
        out += _table(["load", "tool calls", "calls (all, both sides)", "per tools/call", "$ per million tools/call"],
                      _cost_rows(costs))  # fmt: skip
        out += [f"Publish and PublishBatch are priced at ${PRICE_PER_MILLION_SNS_PUBLISHES:.2f} per million, SQS "
                f"calls at ${PRICE_PER_MILLION_REQUESTS:.2f}.", ""]  # fmt: skip
        high = max(costs, key=lambda c: c.clients)
        if high.clients > 1:
            targets.append([f"<= 3 billable calls per SNS+SQS round trip with {high.clients} concurrent clients",
                            f"{high.per_call:.2f}", _met(high.per_call <= 3)])  # fmt: skip
    return out


def _webhook(trips: RoundTrips | None, fanout: Fanout | None, targets: list[list[str]]) -> list[str]:
    out = ["## Webhooks", ""]
    if trips is not None:
        series = trips.series
        rows: list[list[str]] = []
        for era, label in (("modern", "2026-07-28"), ("legacy", '2025-11-25 (`mode="legacy"`)')):
            floor = median(series.get(f"http-{era}", []))
            for name, what, judged in ((f"http-{era}", "direct Streamable HTTP (the floor)", "itself"),
                                       (f"webhook-{era}", "webhooks", f"direct HTTP, {era}")):  # fmt: skip
                samples = series.get(name, [])
                if not samples:
                    continue
                p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
                rows.append([f"tools/call `echo` over {what}, {label}", str(len(samples)), _ms(p50), _ms(p90),
                             _ms(p99), judged, _x(ratio(median(samples), floor))])  # fmt: skip
            if series.get(f"webhook-{era}") and floor:
                value = ratio(median(series[f"webhook-{era}"]), floor)
                targets.append([f"webhook tools/call p50 <= 2.0x a direct Streamable HTTP call ({label.split()[0]})",
                                _x(value), _met(value <= 2.0)])  # fmt: skip
        out += _table(_TRIP_HEADER, rows)
        out += ["One `MCPServer` served both ways at once in one process, a client of each era on each path, "
                "interleaved call by call, back to back, all on 127.0.0.1. A webhook call is two signed POSTs (the "
                "request, answered 202 at once; the answer, POSTed to the client's receiver) where a Streamable HTTP "
                "call is one POST held open for its answer.", ""]  # fmt: skip
    if fanout is not None and fanout.without_slow and fanout.with_slow:
        value = fanout.ratio()
        out += _table(
            ["figure", "calls/s of the other clients (median round)", "rounds (alternating)", "/ all fast"],
            [
                [f"{fanout.clients} clients, all receivers fast", f"{median(fanout.without_slow):.1f}/s",
                 " · ".join(f"{r:.1f}" for r in fanout.without_slow), "1.00x"],
                [f"{fanout.clients} clients, one receiver answering after {SLOW_RECEIVER_SECONDS:.0f} s "
                 f"({fanout.slow_calls} of its calls completed)", f"{median(fanout.with_slow):.1f}/s",
                 " · ".join(f"{r:.1f}" for r in fanout.with_slow), _x(value)],
            ],
        )  # fmt: skip
        out += [f"Each client calls back to back for {fanout.window_seconds:.0f} s per round; the figure counts "
                f"the {fanout.clients - 1} clients present in both set-ups. Deliveries run per destination (at most "
                "4 at once to one receiver), never behind another client's.", ""]  # fmt: skip
        targets.append([f"webhook fan-out: {fanout.clients - 1} clients keep >= 0.9x their calls/s next to a "
                        f"{SLOW_RECEIVER_SECONDS:.0f} s receiver", _x(value), _met(value >= 0.9)])  # fmt: skip
    return out


def _hybrid(trips: RoundTrips | None, held: HeldOpen | None, targets: list[list[str]]) -> list[str]:
    out = ["## Streamable HTTP + webhook (hybrid)", ""]
    if trips is not None:
        series = trips.series
        rows: list[list[str]] = []
        for era, label in (("modern", "2026-07-28"), ("legacy", '2025-11-25 (`mode="legacy"`)')):
            floor = median(series.get(f"http-{era}", []))
            for name, what, judged in ((f"http-{era}", "the SDK's Streamable HTTP server (the floor)", "itself"),
                                       (f"inline-{era}", "the hybrid, inline tool", f"SDK HTTP, {era}"),
                                       (f"webhook-{era}", "the hybrid, webhook tool", f"SDK HTTP, {era}")):  # fmt: skip
                samples = series.get(name, [])
                if not samples:
                    continue
                p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
                rows.append([f"tools/call over {what}, {label}", str(len(samples)), _ms(p50), _ms(p90), _ms(p99),
                             judged, _x(ratio(median(samples), floor))])  # fmt: skip
            for kind, limit in (("inline", 1.1), ("webhook", 2.0)):
                if series.get(f"{kind}-{era}") and floor:
                    value = ratio(median(series[f"{kind}-{era}"]), floor)
                    targets.append([f"hybrid {kind} tool p50 <= {limit}x the SDK's Streamable HTTP server "
                                    f"({label.split()[0]})", _x(value), _met(value <= limit)])  # fmt: skip
        out += _table(_TRIP_HEADER, rows)
        out += ["One tool body served two ways at once in one process: by the hybrid (the same `echo` inline, and "
                "as `echo_later` by webhook) and by `MCPServer.streamable_http_app()`; a hybrid client and a plain "
                "SDK client of each era, interleaved call by call, back to back, each timed call right after an "
                "untimed one of its own figure (so none pays what another figure left), all on 127.0.0.1. A webhook "
                "call is a POST answered 202 at once, then a signed POST of the answer to the client's receiver.",
                ""]  # fmt: skip
    if held is not None and held.requests_in_progress >= 0:
        out += _table(
            ["figure", "tools running when read", "HTTP requests held by the server", "TCP connections to it",
             "wall time"],
            [[f"{held.calls} webhook tools of {held.tool_seconds:g} s running at once (one hybrid client)",
              str(held.running), str(held.requests_in_progress), str(held.connections), f"{held.wall_seconds:.1f} s"]],
        )  # fmt: skip
        out += ["Read half-way through the tools' sleep, from the server's side: requests in progress (an ASGI "
                "counter around the app) and ESTABLISHED TCP connections to its port (/proc/net/tcp; idle "
                "keep-alive connections of the clients' pools, the 2025 GET stream and the receiver's own count "
                "there). The SDK's plain server would hold one request per running call.", ""]  # fmt: skip
        none_held = held.requests_in_progress == 0 and held.running == held.calls  # judged only while all ran
        targets.append([f"hybrid: no HTTP request held while {held.calls} webhook tools run",
                        f"{held.requests_in_progress} ({held.running} running)", _met(none_held)])  # fmt: skip
    return out


def _bridge(trips: RoundTrips) -> list[str]:
    series = trips.series
    direct, bridged, served = (median(series.get(name, [])) for name in ("stdio-direct", "bridge-stdio", "object"))
    rows: list[list[str]] = []
    for name, what, floor_name, floor in (
        ("stdio-direct", "the stdio server called directly by the SDK's stdio client (the floor)", "itself", direct),
        ("bridge-stdio", "the same server through SQS and `asyncmcp serve -- <command>`", "direct stdio", direct),
        ("object", "the same server as a Python object through SQS (`asyncmcp serve module:server`)", "direct stdio",
         direct),
    ):  # fmt: skip
        samples = series.get(name, [])
        if not samples:
            continue
        p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
        rows.append([f"tools/call `echo`, {what}", str(len(samples)), _ms(p50), _ms(p90), _ms(p99), floor_name,
                     _x(ratio(median(samples), floor))])  # fmt: skip
    out = ["## Bridging a stdio server (`asyncmcp serve -- <command>`), 2026-07-28", "", *_table(_TRIP_HEADER, rows)]
    out += [f"The stdio hop the bridge adds over serving the Python object: {_delta_ms(bridged - served)} (p50). "
            "One stdio server process reached three ways, interleaved call by call, back to back; the bridged one "
            "is a child of an in-process worker, the direct one a child of the SDK's stdio client.", ""]  # fmt: skip
    return out


def _tasks(figures: TaskFigures) -> list[str]:
    series = figures.series
    floor = median(series.get("plain", []))
    out = ["## Tasks (SEP-2663) over SQS, tasks in DynamoDB", ""]
    rows: list[list[str]] = []
    for name, what in (
        ("plain", "plain tools/call of the same tool, no task (the floor)"),
        ("create", "tools/call to `CreateTaskResult` (the task durably created first)"),
        (
            "seen",
            f"tool completion to the client's `tasks/get` seeing `completed` (polling every {POLL_INTERVAL_MS} ms)",
        ),
    ):
        samples = series.get(name, [])
        if samples:
            p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
            rows.append([what, str(len(samples)), _ms(p50), _ms(p90), _ms(p99), "plain call",
                         _x(ratio(median(samples), floor))])  # fmt: skip
    out += _table(_TRIP_HEADER, rows)
    calls = ", ".join(f"{name} {count:.1f}" for name, count in figures.calls_per_task().items())
    out += _table(
        ["figure", "value"],
        [
            ["DynamoDB calls per task (create, lease, result, lease back, the client's polls)", calls or "none"],
            ["DynamoDB on-demand cost per task (us-east-1 prices)",
             f"${cost_per_task(figures) * 1e6:.2f} per million tasks"],
        ],
    )  # fmt: skip
    out += ["One client of each kind, one in-process worker, a tool that returns at once, interleaved call by "
            "call: a plain call, then a task started and polled until completed. docs/tasks.md explains the "
            "store calls.", ""]  # fmt: skip
    return out


def _pipeline(pipe: Pipeline, targets: list[list[str]]) -> list[str]:
    raw, mcp = median(pipe.raw), median(pipe.mcp)
    value = ratio(mcp, raw)
    out = [f"## Throughput against the raw pipeline: {pipe.concurrency} clients, a {1000 * WORK_SECONDS:.0f} ms tool, "
           f"one worker holding {pipe.concurrency} at once", ""]  # fmt: skip
    out += _table(
        ["figure", "calls/s (median round)", "rounds (alternating)", "/ raw"],
        [
            ["raw pipeline: plain SQS worker process and client loops (the floor)", f"{raw:.1f}/s",
             " · ".join(f"{r:.1f}" for r in pipe.raw), "1.00x"],
            [f"`asyncmcp serve --max-in-flight {pipe.concurrency}` and {pipe.concurrency} `Client`s", f"{mcp:.1f}/s",
             " · ".join(f"{r:.1f}" for r in pipe.mcp), _x(value)],
        ],
    )  # fmt: skip
    targets.append([f"{pipe.concurrency} clients x {1000 * WORK_SECONDS:.0f} ms tool, one worker: >= 0.95x the raw "
                    "pipeline's calls/s", _x(value), _met(value >= 0.95)])  # fmt: skip
    return out


def _payloads(measured: PayloadTrips, targets: list[list[str]]) -> list[str]:
    out = ["## Large results through S3 (the claim-check, `--payload-bucket`)", ""]
    series = measured.trips.series
    rows: list[list[str]] = []
    for size in measured.calls:
        mib = f"{size // 1_048_576} MiB"
        rows += _trip_table(
            series,
            [(f"raw floor, {mib}: small request; S3 put + SQS send, receive + S3 get, deletes (no MCP)",
              f"payload-raw-{size}"),
             (f"tools/call returning {mib} over SQS through S3, 2026-07-28", f"payload-mcp-{size}")],
            f"payload-raw-{size}",
        )  # fmt: skip
        floor, mcp = median(series.get(f"payload-raw-{size}", [])), median(series.get(f"payload-mcp-{size}", []))
        if not math.isnan(floor) and not math.isnan(mcp):
            value = ratio(mcp, floor)
            targets.append([f"{mib} result through S3 p50 <= 1.5x the raw floor of the same bytes", _x(value),
                            _met(value <= 1.5)])  # fmt: skip
    out += _table(_TRIP_HEADER, rows)
    costs: list[list[str]] = []
    for size, calls in measured.calls.items():
        per = max(1, measured.samples)
        sqs = {name: count for name, count in calls.items() if not is_s3_call(name)}
        s3 = {name: count for name, count in calls.items() if is_s3_call(name)}
        dollars = (sum(sqs.values()) * PRICE_PER_MILLION_REQUESTS / 1_000_000 + s3_dollars(calls)) / per
        costs.append([f"{size // 1_048_576} MiB", str(measured.samples),
                      ", ".join(f"{name} {count / per:.2f}" for name, count in sorted(sqs.items())),
                      ", ".join(f"{name} {count / per:.2f}" for name, count in sorted(s3.items())),
                      f"${dollars * 1_000_000:.2f}"])  # fmt: skip
    if costs:
        out += _table(["result", "tool calls", "SQS calls per round trip", "S3 calls per round trip",
                       "$ per million tools/call"], costs)  # fmt: skip
    out += [
        "Back to back, interleaved call by call, one worker and one client in one process, both with the payload "
        "bucket set; the request is small, the result goes through S3. The floor awaits its calls one after "
        "another with the same client library. Results up to 16 MiB take one PutObject; larger ones a "
        "multipart upload (8 MiB parts). S3 PUTs are priced at $5.00 per million, GETs at $0.40, DELETEs are "
        f"free; SQS calls at ${PRICE_PER_MILLION_REQUESTS:.2f}.",
        "",
    ]
    return out


def _throughput(tp: Throughput, label: str, targets: list[list[str]]) -> list[str]:
    """1 against 2 worker processes, per client count; `label` names the channel when it is not SQS."""
    over = f" over {label.strip()}" if label else ""
    out = [
        f"## Throughput{over}: concurrent clients calling a {1000 * WORK_SECONDS:.0f} ms tool, workers in separate "
        f"processes (`--max-in-flight {tp.max_in_flight}`)",
        "",
    ]
    rows: list[list[str]] = []
    worst = math.inf
    for clients in sorted({c for c, _ in tp.rounds}):
        one, two = median(tp.rounds.get((clients, 1), [])), median(tp.rounds.get((clients, 2), []))
        scale = ratio(two, one)
        worst = min(worst, scale)
        rows.append([
            str(clients), f"{one:.1f}/s", f"{two:.1f}/s", _x(scale),
            f"{ratio(one, tp.ceiling(1)):.0%} / {ratio(two, tp.ceiling(2)):.0%}",
            " · ".join(f"{r:.1f}" for r in tp.rounds.get((clients, 1), [])) + " vs "
            + " · ".join(f"{r:.1f}" for r in tp.rounds.get((clients, 2), [])),
        ])  # fmt: skip
    out += _table(
        ["clients", "1 worker (floor)", "2 workers", "2 workers / 1 worker", "of ceiling K/50 ms (1 w / 2 w)",
         "rounds (calls/s, alternating)"],
        rows,
    )  # fmt: skip
    out += [
        f"Each round runs every client back to back for {tp.window_seconds:.0f} s after 1 s of warm-up; the "
        "1-worker and 2-worker set-ups alternate round by round and the table shows the median round. "
        f"K={tp.max_in_flight} so the per-worker limit binds: with K=2 or more on this 2-core machine the "
        "embedded endpoint itself becomes the bottleneck (in development runs K=2 scaled only about 1.3x "
        "and K=4 about 1.4x, both far below the K/50 ms ceiling).",
        "",
    ]
    if label:
        out[-2] += (
            " Over SNS+SQS each set-up has its own topology (request topic, the workers' queue, reply topic, "
            "one filtered client queue shared by the clients) and the workers compete on their queue as on SQS."
        )
    targets.append([f"{label}2 workers >= 1.8x the throughput of 1 worker (per-worker limit binding)",
                    _x(worst), _met(worst >= 1.8)])  # fmt: skip
    return out


def render(report: Report) -> str:
    out: list[str] = ["# Benchmarks", ""]
    mode = (
        "`python -m benchmarks --quick` (few samples: a smoke run, not for reading)" if report.quick else "`make bench`"
    )
    out += [
        f"Generated by {mode} in {report.seconds:.0f} s, on the embedded endpoint (moto in server mode, "
        "its own process on 127.0.0.1). Medians and percentiles are from this one run.",
        "",
        "**Read the ratios, not the milliseconds.** moto's per-call cost grows with queue depth (every "
        "send and receive scans the queue) and it shares two cores with the clients and workers, so "
        "absolute numbers are those of the embedded endpoint; real SQS costs tens of milliseconds per "
        "call over the network. What carries over to real SQS is each figure's ratio to its floor "
        "measured in the same run. This machine's speed also drifts by 10-30% within minutes, so "
        "each floor is measured interleaved with the figure it judges, call by call, and the ratio "
        "is that of the two medians. None of these numbers are test assertions.",
        "",
        "## Machine",
        "",
    ]
    out += _table(["", ""], [[key, value] for key, value in report.machine.items()])

    targets: list[list[str]] = []
    if report.back_to_back is not None:
        out += _back_to_back(report.back_to_back, targets)
    if report.first_results is not None:
        out += _first_results(report.first_results, targets)
    trips = report.round_trips
    if trips is not None:
        out += ["## Round trip with a quiet pause before each call (one client, sequential calls)", ""]
        out += _table(["figure", "samples", "p50", "p90", "p99", "floor", "median / floor"], _latency_rows(trips))
        out += [
            "The raw floor makes six calls (send, receive, delete; twice) and awaits each before the next, as a "
            "plain request/response would. The transport sends each hop's frame with one call, gets it with a long "
            "poll already waiting, and hands deletes to a batcher off the reply path; that is how a tools/call can "
            "come in under the floor. Clients of both eras share one reply queue and one in-process worker. "
            f"Every timed call starts after a {QUIET_SECONDS * 1000:.0f} ms pause, time for the long polls a call "
            "ended to be posted again and for its other follow-up work to settle; its deletes wait up to "
            f"{DELETE_LINGER_SECONDS:g} s to share a batch either way, so no MCP figure pays its deletes inside its "
            "own timing, while the raw floor awaits its deletes inline. This run isolates one call's own cost; the "
            "headline is the back-to-back run above.",
            "",
        ]
        raw = median(trips.series.get("raw", []))
        for name, era in (("modern", "2026-07-28"), ("legacy", "2025-11-25")):
            if name in trips.series:
                value = ratio(median(trips.series[name]), raw)
                targets.append([f"tools/call p50 <= 1.0x raw SQS floor ({era})", _x(value), _met(value <= 1.0)])

    if report.idle is not None:
        idle = report.idle
        warm = median(idle.warm_after)
        first = median(idle.first_calls)
        cold = ratio(first, warm)
        monthly = idle.per_minute() * 60 * 24 * 30 * PRICE_PER_MILLION_REQUESTS / 1e6
        pauses = len(idle.first_calls)
        shortest = min(idle.window_seconds, idle.pause_seconds)
        out += [f"## Idle: {idle.window_seconds:.0f} s without calls (counted), then first calls after pauses", ""]
        out += _table(
            ["figure", "value", "floor", "value / floor"],
            [
                [f"first tools/call (2026-07-28) after a pause: median of {pauses} pauses of >= {shortest:.0f} s "
                 f"({', '.join(_ms(x) for x in idle.first_calls)})", _ms(first),
                 f"median of {len(idle.warm_after)} warm calls taken right after each: {_ms(warm)}", _x(cold)],
                ["SQS calls while idle (worker + client reply receiver)",
                 ", ".join(f"{name} {count}" for name, count in sorted(idle.calls.items())) or "none", "", ""],
                ["calls per minute per idle poller (steady: 60 s / mean gap between long polls, plus other calls)",
                 f"{idle.per_minute():.2f}", f"{idle.pollers} pollers, 20 s long polls", ""],
                ["calls per minute per idle poller (count over the window)",
                 f"{idle.counted_per_minute():.2f}", "", ""],
                ["cost of one idle poller", f"${monthly:.4f} per 30-day month", "", ""],
            ],
        )  # fmt: skip
        pause = f"median of {pauses} pauses of >= {shortest:.0f} s"
        long_enough = shortest >= 30
        targets.append([f"first call after a 30 s idle pause <= 1.2x a warm call (paused {pause})", _x(cold),
                        _met(cold <= 1.2) if long_enough else TOO_SHORT])  # fmt: skip
        # The gaps between polls are read by sampling counters every 50 ms: on a 20 s gap that is
        # 0.25% (0.0075 calls/min) of resolution, which the verdict allows for.
        targets.append(["<= 3 calls per minute per idle poller", f"{idle.per_minute():.3f}",
                        _met(idle.per_minute() <= 3 * 1.0025) if idle.receive_intervals else TOO_SHORT])  # fmt: skip

    if report.cost:
        out += ["## AWS cost: billable SQS calls per tools/call round trip (client side + server side)", ""]
        out += _table(
            ["load", "tool calls", "SQS calls (all, both sides)", "per tools/call", "$ per million tools/call"],
            _cost_rows(report.cost),
        )
        out += [
            f"Priced at ${PRICE_PER_MILLION_REQUESTS:.2f} per million requests (standard queues; FIFO is $0.50; the "
            "first million a month is free). Every call counts, empty long polls included, and each 64 KiB chunk "
            "of a payload is billed as one request (these echo messages are well under one chunk). A batch call "
            "of up to 10 messages is one request. The counts include the long polls both sides made while the "
            "calls ran. Every client has made one call before counting: a new SDK client lists the tools after "
            "its first call of a tool, once per session (time to first result includes it).",
            "",
        ]
        for c in report.cost:
            if c.clients == 1:
                targets.append([f"<= 4.5 billable SQS calls per round trip, {c.label} (sequential, both sides)",
                                f"{c.per_call:.2f}", _met(c.per_call <= 4.5)])  # fmt: skip
        high = max(report.cost, key=lambda c: c.clients)
        if high.clients > 1:
            targets.append([f"<= 3 billable SQS calls per round trip with {high.clients} concurrent clients",
                            f"{high.per_call:.2f}", _met(high.per_call <= 3)])  # fmt: skip
            targets.append([f"<= 1.0 billable SQS calls per round trip with {high.clients} concurrent clients",
                            f"{high.per_call:.2f}", _met(high.per_call <= 1.0)])  # fmt: skip

    if report.sns is not None or report.sns_cost:
        out += _sns(report.sns, report.sns_cost, targets)

    if report.webhook is not None or report.fanout is not None:
        out += _webhook(report.webhook, report.fanout, targets)
    if report.tasks is not None:
        out += _tasks(report.tasks)

    if report.hybrid is not None or report.held_open is not None:
        out += _hybrid(report.hybrid, report.held_open, targets)
    if report.bridge is not None:
        out += _bridge(report.bridge)
    if report.payloads is not None:
        out += _payloads(report.payloads, targets)

    if report.throughput is not None:
        out += _throughput(report.throughput, "", targets)
    if report.sns_throughput is not None:
        out += _throughput(report.sns_throughput, "SNS+SQS ", targets)

    if report.pipeline is not None:
        out += _pipeline(report.pipeline, targets)

    if report.server_memory is not None or report.client_memory is not None:
        out += ["## Memory (RSS from /proc/<pid>/status)", ""]
        rows: list[list[str]] = []
        if (sm := report.server_memory) is not None:
            rows.append([
                f"worker process, before / after {sm.sessions:,} 2025-11-25 sessions initialized and left idle",
                f"{_mb(sm.before)} / {_mb(sm.after)}", f"{(sm.after - sm.before) / 1024:+,.0f} KiB "
                f"({(sm.after - sm.before) / sm.sessions:+,.0f} B per session)",
            ])  # fmt: skip
        if (cm := report.client_memory) is not None:
            rows.append([
                f"client process, {cm.calls:,} concurrent call_tool in flight ({cm.clients} clients, one shared reply "
                f"queue; {cm.completed:,} completed)",
                f"{_mb(cm.before)} before / {_mb(cm.peak)} peak",
                f"{(cm.peak - cm.before) / 1024:+,.0f} KiB ({(cm.peak - cm.before) / cm.calls:+,.0f} B per call)",
            ])  # fmt: skip
        out += _table(["figure", "RSS", "difference"], rows)
        out += [
            "A worker keeps no per-session state: a 2025 session id is signed and carries what later requests "
            "need, so any growth above is caches (answered-request dedupe window) and allocator noise.",
            "",
        ]

    series = report.round_trips.series if report.round_trips else {}
    if series.get("proxy") and series.get("modern"):
        proxied, direct = median(series["proxy"]), median(series["modern"])
        overhead = proxied - direct
        out += [
            "## Proxy",
            "",
            f"Proxy overhead, p50 through the proxy minus p50 direct (both 2026-07-28, interleaved call by call, "
            f"same worker, the proxy in its own process): {_ms(proxied)} - {_ms(direct)} = "
            f"**{_delta_ms(overhead)}**. "
            "The queue hops are the same; the proxy adds one Streamable HTTP exchange on 127.0.0.1 (client and "
            "server side of the SDK's HTTP stack) and a process hop, on a 2-core machine that the broker, the "
            "worker and the client share.",
            "",
        ]
        targets.append(
            ["proxy adds <= 3 ms p50 (Streamable HTTP front)", f"{_delta_ms(overhead)}", _met(overhead <= 0.003)]
        )
        if series.get("http") and series.get("http-raw") and series.get("proxy-raw"):
            exchange = median(series["http"]) - median(series["http-raw"])
            hop = median(series["proxy-raw"])
            beyond = overhead - (hop + exchange)
            out += [
                "What a proxy that is its own process and speaks Streamable HTTP through the SDK adds besides "
                "its own work, measured in this run:",
                "",
                f"- an HTTP round trip to another process: {_ms(hop)} (GET `/healthz` on the proxy);",
                f"- the SDK's MCP exchange over that HTTP, client and server side: at most {_ms(exchange)} (the "
                "direct Streamable HTTP tools/call minus a bare POST to the same server; an upper estimate, as it "
                "also includes the server running the tool, which the worker does on both paths).",
                "",
                f"Together at most {_ms(hop + exchange)}. The proxy's overhead beyond that, at least "
                f"{_delta_ms(beyond)}, is its own share: its forwarding middleware and backend link, less the direct "
                "client's transport work that the link does in its place. These are differences of medians of a "
                "noisy machine; read them to the nearest half millisecond.",
                "",
            ]
            targets.append(
                ["… beyond one HTTP hop to another process and the SDK's own HTTP exchange",
                 f"{_delta_ms(beyond)}", "(reading aid)"]
            )  # fmt: skip
        if series.get("proxy-stdio"):
            stdio = median(series["proxy-stdio"]) - direct
            out += [
                f"Through the stdio front (the proxy as a child process on pipes, as Claude Desktop runs it): "
                f"{_ms(median(series['proxy-stdio']))} - {_ms(direct)} = **{_delta_ms(stdio)}**.",
                "",
            ]
            targets.append(["proxy adds <= 3 ms p50 (stdio front)", f"{_delta_ms(stdio)}", _met(stdio <= 0.003)])
    else:
        out += ["## Proxy", "", f"Proxy overhead (tools/call through the proxy vs direct): {NOT_YET}.", ""]
        targets.append(["proxy adds <= 3 ms p50 (Streamable HTTP front)", NOT_YET, _met(None)])

    if report.failed_sections:
        out += ["## Sections that failed in this run", ""]
        out += _table(["section", "what went wrong"], [[name, reason] for name, reason in report.failed_sections])
    if not report.quick:
        out += [f"## Why figures moved since the run of {MOVED_SINCE}", "", *MOVED, ""]
    out += ["## Targets", ""]
    out += _table(["target", "measured", "verdict"], targets)
    return "\n".join(out).rstrip() + "\n"
