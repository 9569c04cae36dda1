"""Benchmark of the webhook acknowledgement path: hookdesk against the ProcureIQ sample consumer.

Unique, correctly signed ProcureIQ deliveries are posted over loopback, C at a time, to:

* baseline: the ProcureIQ seed document's FastAPI consumer run as written
  (bench/procureiq_fastapi_consumer.py under uvicorn, 2 workers): verify the signature,
  parse, answer 200; nothing is stored.
* hookdesk: the production configuration, gunicorn + config.wsgi (2 workers) on PostgreSQL
  (database hookdesk_bench_ack, recreated) with the Redis broker (db 14, flushed) and no qcluster:
  verify, store the Event and its Delivery in one transaction, enqueue, answer 200.

Each target gets a short warm-up, a peak run (closed loop: C connections, N requests or the
duration, whichever ends first) and a run rate-limited to half of that target's measured peak,
where p50/p99 are read. Every request carries its own event id, never reused across runs.
Targets: hookdesk peak throughput >= 1.0x baseline; hookdesk p99 at half of peak < 25 ms.
A run is valid only if every response is 2xx and, for hookdesk, the events stored in
PostgreSQL equal the deliveries acknowledged with "received".

Load comes from wrk (with bench/ack_path.lua), or an asyncio keep-alive client if wrk cannot
be had. Progress goes to stderr, results to stdout. Exit status: 0 all targets met, 1 a target
missed, 2 the run is not valid (errors, non-2xx responses, stored != acked).

The baseline as run by `uvicorn --workers 2` never sets TCP_NODELAY (Kludex/uvicorn#3149),
which caps it at about C / 44 ms on keep-alive connections; --baseline-nodelay serves the same
app from a TCP_NODELAY listener (bench/uvicorn_nodelay.py). The machine is shared: each run
first waits (--quiet-wait) for other work to settle, and the report flags runs that started busy.

    .venv/bin/python bench/ack_path.py [--requests N] [--duration S] [--concurrency C]
        [--only baseline|hookdesk] [--gunicorn-args "--worker-class sync"]
        [--baseline-nodelay] [--loadgen auto|wrk|python] [--quiet-wait S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# Run as a script: the stack library is beside bench/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stack

LUA_SCRIPT = Path(__file__).with_name("ack_path.lua")
HOST = "127.0.0.1"

BENCH_DB = "hookdesk_bench_ack"
PG_ARGS = ["-h", HOST, "-U", "postgres"]
REDIS_DB = "14"
REDIS_URL = f"redis://{HOST}:6379/{REDIS_DB}"
SLUG = "bench-procureiq"
HOOKDESK_PATH = f"/webhooks/{SLUG}/"
BASELINE_PATH = "/webhooks/procureiq"
# Readiness probes: pages that answer a GET without writing or logging anything.
HOOKDESK_PROBE = "/admin/login/"
BASELINE_PROBE = "/openapi.json"
# Fixed, so every server process of a run derives the same encryption key.
DJANGO_SECRET_KEY = "hookdesk-bench-not-a-production-secret-key-0123456789"  # noqa: S105
DEFAULT_GUNICORN_ARGS = "--worker-class gthread --threads 4"

WARMUP_REQUESTS = 1000
WARMUP_SECONDS = 5.0
REQUEST_TIMEOUT_S = 10
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 300

QUIET_BUSY = 0.25  # a machine busier than this before a run skews it (2 cores, shared)
QUIET_SAMPLE_S = 3.0
THROUGHPUT_TARGET = 1.0
P99_TARGET_MS = 25.0


def log(message: str) -> None:
    print(f"[ack_path] {message}", file=sys.stderr, flush=True)


# --- Requests ---------------------------------------------------------------------------------


def procureiq_body(unique: str, created: int) -> bytes:
    event = {
        "id": f"evt_{unique}",
        "type": "order.created",
        "version": "1.0",
        "created": created,
        "data": {
            "orderId": f"ord_{unique}",
            "userId": "usr_1",
            "totalAmount": 742.5,
            "currency": "USD",
            "itemCount": 3,
        },
        "metadata": {"procureiqVersion": "1.0.0", "environment": "production"},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signed_request(path: str, port: int, secret: str, unique: str, now: int) -> bytes:
    """One complete HTTP/1.1 request, signed as ProcureIQ signs: HMAC-SHA256 of the raw body."""
    body = procureiq_body(unique, now)
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "User-Agent: hookdesk-ack-bench\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-ProcureIQ-Signature: sha256={signature}\r\n"
        "X-ProcureIQ-Event: order.created\r\n"
        f"X-ProcureIQ-Delivery: dlv_{unique}\r\n"
        f"X-ProcureIQ-Timestamp: {now}\r\n"
        "\r\n"
    )
    return head.encode() + body


@dataclass(frozen=True)
class Workload:
    """Where to send, signed with what; `tag` keeps each target's event ids apart."""

    port: int
    path: str
    secret: str
    tag: str
    server_pgid: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def slices(self, phase: str, count: int, connections: int) -> list[list[bytes]]:
        """`connections` disjoint slices of unique requests, one spare each (see the Lua)."""
        now = int(time.time())
        per_connection = math.ceil(count / connections) + 1
        return [
            [
                signed_request(
                    self.path, self.port, self.secret, f"{self.tag}-{phase}-{c}-{i}", now
                )
                for i in range(per_connection)
            ]
            for c in range(connections)
        ]


# --- Results ----------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    phase: str
    rate_target: float = 0.0
    sent: int = 0
    responses: int = 0
    ok2xx: int = 0
    received: int = 0
    duplicate: int = 0
    non2xx: int = 0
    overflow: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    socket_errors: dict[str, int] = field(default_factory=dict)
    unfinished_threads: int = 0
    busy_before: float = 0.0
    foreign_cpu: float = 0.0
    error_sample: str = ""
    latencies_us: list[int] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.responses / self.seconds if self.seconds > 0 else 0.0

    @property
    def lost(self) -> int:
        """Requests sent that got no response (connection errors)."""
        return self.sent - self.responses

    def percentile_ms(self, percent: float) -> float:
        if not self.latencies_us:
            return math.nan
        ordered = sorted(self.latencies_us)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1] / 1000

    @property
    def problems(self) -> list[str]:
        found = []
        if self.non2xx:
            found.append(f"{self.non2xx} non-2xx ({dict(self.statuses)})")
        if self.lost:
            found.append(f"{self.lost} requests without a response")
        if any(self.socket_errors.values()):
            found.append(f"socket errors {self.socket_errors}")
        if self.unfinished_threads:
            found.append(f"{self.unfinished_threads} connections stuck waiting for a response")
        if self.overflow or self.duplicate:
            found.append(f"repeated requests (overflow {self.overflow}, dup {self.duplicate})")
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.responses,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "rate_target": round(self.rate_target, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "max_ms": round(self.percentile_ms(100), 2),
            "ok2xx": self.ok2xx,
            "received": self.received,
            "non2xx": self.non2xx,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "lost": self.lost,
            "problems": self.problems,
            "cpu_busy_before": round(self.busy_before, 2),
            "cpu_other_work": round(self.foreign_cpu, 2),
        }

    def describe(self) -> str:
        rate = f" (target {self.rate_target:.0f}/s)" if self.rate_target else ""
        return (
            f"{self.phase}: {self.responses} responses in {self.seconds:.2f}s = "
            f"{self.rps:.0f} req/s{rate}, p50 {self.percentile_ms(50):.2f} ms, "
            f"p99 {self.percentile_ms(99):.2f} ms, non-2xx {self.non2xx}"
        )


def merge_thread_reports(result: PhaseResult, reports: list[dict[str, Any]]) -> PhaseResult:
    for report in reports:
        for key in ("sent", "responses", "ok2xx", "received", "duplicate", "non2xx", "overflow"):
            setattr(result, key, getattr(result, key) + report[key])
        result.statuses.update({int(k): v for k, v in report["statuses"].items()})
        result.latencies_us.extend(report["latencies_us"])
    started = [r["first_sent"] for r in reports if r["responses"]]
    ended = [r["last_response"] for r in reports if r["responses"]]
    if started:
        result.seconds = max(ended) - min(started)
    return result


# --- Machine ----------------------------------------------------------------------------------


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over `seconds` (from /proc/stat; 0 where unavailable)."""

    def sample() -> tuple[int, int]:
        with contextlib.suppress(OSError, ValueError):
            fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
            return fields[3] + fields[4], sum(fields)  # idle + iowait, total
        return 0, 0

    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    total = total_after - total_before
    return 1 - (idle_after - idle_before) / total if total > 0 else 0.0


@dataclass(frozen=True)
class CpuSample:
    """CPU ticks since boot: the whole machine's, busy ones, and those of the benchmark's own
    processes (this one and its reaped children such as wrk, the server's process group, the
    PostgreSQL backends of the bench database, redis-server)."""

    total: int
    busy: int
    ours: int


def process_ticks(pid: int, server_pgid: int) -> int:
    """utime+stime (+ reaped children's) of `pid` if it works for the benchmark, else 0."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 of proc(5), the state
    ours = (
        pid == os.getpid()
        or int(fields[2]) == server_pgid
        or command.startswith(b"redis-server")
        or (command.startswith(b"postgres:") and f" {BENCH_DB} ".encode() in command)
    )
    if not ours:
        return 0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return utime + stime + (cutime + cstime if pid == os.getpid() else 0)


def cpu_sample(server_pgid: int) -> CpuSample:
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    except (OSError, ValueError):
        return CpuSample(0, 0, 0)
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    ours = sum(process_ticks(pid, server_pgid) for pid in pids)
    return CpuSample(sum(fields), sum(fields) - fields[3] - fields[4], ours)


def other_work_share(before: CpuSample, after: CpuSample) -> float:
    """Share of the machine used by processes other than the benchmark's between samples."""
    total = after.total - before.total
    other = (after.busy - before.busy) - (after.ours - before.ours)
    return max(0.0, other / total) if total > 0 else 0.0


def wait_for_quiet(max_wait: float) -> float:
    """Wait up to `max_wait` seconds for other work on the machine to settle; the last
    measured busy share (the servers under test are idle at this point)."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy(QUIET_SAMPLE_S)
    while busy > QUIET_BUSY and time.monotonic() < deadline:
        busy = cpu_busy(QUIET_SAMPLE_S)
    if busy > QUIET_BUSY:
        log(f"  WARNING: machine {busy:.0%} busy with other work before this run")
    return busy


# --- Load generation: wrk ---------------------------------------------------------------------


def find_wrk() -> str | None:
    """wrk on PATH, installed from Debian packages when missing and we are root."""
    if path := shutil.which("wrk"):
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found; trying apt-get install -y wrk")
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                ["apt-get", "install", "-y", "wrk"],
                capture_output=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
    return shutil.which("wrk")


def write_request_file(path: Path, requests: list[bytes]) -> None:
    with path.open("wb") as file:
        for request in requests:
            file.write(b"%d\n" % len(request))
            file.write(request)


def wait_for_wrk(process: subprocess.Popen, reports: list[Path], cap: float) -> None:
    """wrk sleeps for its whole -d even when every thread has stopped: interrupt it once all
    threads have reported (SIGINT ends its sleep; it ignores SIGINT until it is ready)."""
    deadline = time.monotonic() + cap
    while process.poll() is None and time.monotonic() < deadline:
        if all(path.exists() for path in reports):
            process.send_signal(signal.SIGINT)
        time.sleep(0.2)


def parse_wrk_socket_errors(output: str) -> dict[str, int]:
    match = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if not match:
        return {}
    return dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))


def run_wrk(
    wrk: str,
    url: str,
    slices: list[list[bytes]],
    quota: int,
    phase: str,
    rate: float,
    seconds: float,
    rundir: Path,
) -> PhaseResult:
    """One wrk thread and connection per slice; files for and from the Lua go in `rundir`."""
    connections = len(slices)
    prefix = rundir / "connection"
    for index, requests in enumerate(slices):
        write_request_file(Path(f"{prefix}.{index}"), requests)
    reports = [Path(f"{prefix}.{index}.json") for index in range(connections)]
    cap = seconds + REQUEST_TIMEOUT_S + 20
    command = [
        wrk, "-t", str(connections), "-c", str(connections), "-d", f"{math.ceil(cap)}s",
        "--timeout", f"{REQUEST_TIMEOUT_S}s", "-s", str(LUA_SCRIPT), url,
        "--", str(prefix), str(quota), f"{seconds:.3f}", f"{rate / connections:.6f}",
        str(connections),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_wrk(process, reports, cap + 5)
        output, errors = process.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
    if errors.strip() or process.returncode != 0:
        log(f"wrk exited with {process.returncode}: {errors.strip()[:500]} {output[-500:]}")
    found = [json.loads(path.read_text()) for path in reports if path.exists()]
    result = merge_thread_reports(PhaseResult(phase, rate_target=rate), found)
    result.unfinished_threads = connections - sum(report["finished"] for report in found)
    result.socket_errors = parse_wrk_socket_errors(output)
    samples = sorted(rundir.glob("*.err"))
    if samples:
        result.error_sample = samples[0].read_text(errors="replace")[:500]
    return result


# --- Load generation: asyncio fallback --------------------------------------------------------


class HttpError(Exception):
    """The server answered something this client does not parse."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, keep_alive = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep_alive = value != b"close"
        elif name == b"transfer-encoding":
            raise HttpError("chunked responses are not supported")
    return status, await reader.readexactly(length), keep_alive


@dataclass
class Connection:
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(request)
        status, body, keep_alive = await read_response(self.reader)
        if not keep_alive:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def record_response(report: dict[str, Any], status: int, body: bytes) -> None:
    report["responses"] += 1
    report["statuses"][status] = report["statuses"].get(status, 0) + 1
    if not 200 <= status <= 299:
        report["non2xx"] += 1
        return
    report["ok2xx"] += 1
    if re.search(rb'"status":\s*"received"', body):
        report["received"] += 1
    elif re.search(rb'"status":\s*"duplicate"', body):
        report["duplicate"] += 1


async def python_connection(
    port: int, requests: list[bytes], quota: int, deadline: float, interval: float, offset: float
) -> dict[str, Any]:
    """One keep-alive connection: send, await the response, repeat (paced when `interval`)."""
    keys = ("sent", "responses", "ok2xx", "received", "duplicate", "non2xx", "overflow", "errors")
    report: dict[str, Any] = dict.fromkeys(keys, 0) | {"statuses": {}, "latencies_us": []}
    report["finished"] = True
    connection = Connection(port)
    start = time.monotonic() + offset
    report["first_sent"] = report["last_response"] = start
    try:
        for index, request in enumerate(requests[:quota]):
            if interval and (wait := start + index * interval - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            sent_at = time.monotonic()
            report["sent"] += 1
            try:
                status, body = await asyncio.wait_for(
                    connection.exchange(request), REQUEST_TIMEOUT_S
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError, ValueError):
                report["errors"] += 1
                await connection.close()
                continue
            report["last_response"] = time.monotonic()
            report["latencies_us"].append(round((report["last_response"] - sent_at) * 1e6))
            record_response(report, status, body)
            if report["last_response"] >= deadline:
                break
    finally:
        await connection.close()
    return report


def run_python(
    port: int, slices: list[list[bytes]], quota: int, phase: str, rate: float, seconds: float
) -> PhaseResult:
    connections = len(slices)
    interval = connections / rate if rate else 0.0

    async def run_all() -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        return await asyncio.gather(
            *(
                python_connection(
                    port, requests, quota, deadline, interval, interval * index / connections
                )
                for index, requests in enumerate(slices)
            )
        )

    reports = asyncio.run(run_all())
    result = merge_thread_reports(PhaseResult(phase, rate_target=rate), reports)
    result.socket_errors = {"errors": sum(report["errors"] for report in reports)}
    return result


@dataclass(frozen=True)
class LoadGenerator:
    wrk: str | None
    workdir: Path
    concurrency: int
    quiet_wait: float

    @property
    def name(self) -> str:
        return "wrk" if self.wrk else "python-asyncio"

    def run(
        self, workload: Workload, phase: str, count: int, seconds: float, rate: float = 0.0
    ) -> PhaseResult:
        busy = wait_for_quiet(self.quiet_wait)
        slices = workload.slices(phase, count, self.concurrency)
        quota = len(slices[0]) - 1
        cpu_before = cpu_sample(workload.server_pgid)
        if self.wrk:
            rundir = self.workdir / f"{workload.tag}-{phase}"
            rundir.mkdir()
            result = run_wrk(self.wrk, workload.url, slices, quota, phase, rate, seconds, rundir)
        else:
            result = run_python(workload.port, slices, quota, phase, rate, seconds)
        result.busy_before = busy
        result.foreign_cpu = other_work_share(cpu_before, cpu_sample(workload.server_pgid))
        log(result.describe())
        if result.foreign_cpu > QUIET_BUSY:
            log(f"  WARNING: other work used {result.foreign_cpu:.0%} of the machine meanwhile")
        for problem in result.problems:
            log(f"  PROBLEM: {problem}")
        if result.error_sample:
            log(f"  first non-2xx response: {result.error_sample!r}")
        return result


# --- Servers ----------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(name: str, service: stack.Service, port: int, path: str) -> Iterator[stack.Service]:
    """The server started, answering `path`; stopped (its whole process group) on the way out."""
    log(f"starting {name}: {shlex.join(service.command)}")
    try:
        with stack.running(service, timeout=STOP_TIMEOUT_S):
            service.wait_answering(port, path, timeout=READY_TIMEOUT_S)
            yield service
    finally:
        log(f"stopping {name}")


def server_log_problems(log_path: Path) -> list[str]:
    """Lines of a server log that suggest trouble (errors, tracebacks, worker timeouts)."""
    pattern = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|WORKER TIMEOUT|\bWARNING\b|Error:")
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return [line for line in text.splitlines() if pattern.search(line)]


# --- Targets ----------------------------------------------------------------------------------


@dataclass
class TargetResult:
    name: str
    command: str
    loadgen: str
    warmup: PhaseResult
    peak: PhaseResult
    half: PhaseResult
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def phases(self) -> tuple[PhaseResult, ...]:
        return (self.warmup, self.peak, self.half)

    @property
    def problems(self) -> list[str]:
        found = [f"{p.phase}: {problem}" for p in self.phases for problem in p.problems]
        if "stored" in self.checks and self.checks["stored"] != self.checks["acked"]:
            found.append(f"stored={self.checks['stored']} acked={self.checks['acked']}")
        return found

    def summary(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "loadgen": self.loadgen,
            "peak": self.peak.summary(),
            "half": self.half.summary(),
            "warmup_requests": self.warmup.responses,
            "checks": self.checks,
            "valid": not self.problems,
            "problems": self.problems,
        }


def measure(
    name: str, command: str, load: LoadGenerator, workload: Workload, args: argparse.Namespace
) -> TargetResult:
    """Warm-up, peak run, then a run paced at half of the measured peak."""
    log(f"{name}: warm-up")
    warmup = load.run(workload, "warmup", min(args.requests, WARMUP_REQUESTS), WARMUP_SECONDS)
    log(f"{name}: peak run, {args.requests} requests or {args.duration:g}s, C={args.concurrency}")
    peak = load.run(workload, "peak", args.requests, args.duration)
    rate = peak.rps / 2
    count = min(args.requests, math.ceil(rate * args.duration))
    count = args.concurrency * max(1, math.ceil(count / args.concurrency))  # whole slices
    log(f"{name}: half-of-peak run at {rate:.0f} req/s, {count} requests")
    # Sized to last about `duration`; the deadline only guards against a server falling behind.
    half = load.run(workload, "half", count, args.duration * 2 + 10, rate)
    return TargetResult(name, command, load.name, warmup, peak, half)


def baseline_env(secret: str) -> dict[str, str]:
    return {**os.environ, "WEBHOOK_SECRET": secret}


def measure_baseline(
    load: LoadGenerator, secret: str, args: argparse.Namespace, workdir: Path
) -> TargetResult:
    port = stack.free_port()
    # bench.uvicorn_nodelay takes the same options; it only binds the listener differently.
    launcher = "bench.uvicorn_nodelay" if args.baseline_nodelay else "uvicorn"
    command = [
        sys.executable, "-m", launcher, "bench.procureiq_fastapi_consumer:app",
        "--host", HOST, "--port", str(port), "--workers", "2",
    ]  # fmt: skip
    if not args.baseline_nodelay:
        command.append("--no-access-log")
    log_path = workdir / "baseline-uvicorn.log"
    # Not its stdout: the consumer prints a line per event.
    service = stack.Service("uvicorn", command, baseline_env(secret), log_path, stdout_to_log=False)
    with serving("baseline", service, port, BASELINE_PROBE):
        workload = Workload(port, BASELINE_PATH, secret, f"{args.run_id}-baseline", service.pid)
        result = measure("baseline", shlex.join(command[1:]), load, workload, args)
    result.checks["acked"] = sum(phase.ok2xx for phase in result.phases)
    result.checks["server_log_problems"] = server_log_problems(log_path)[:20]
    return result


def hookdesk_env(workdir: Path) -> dict[str, str]:
    return stack.environment(
        database_url=stack.database_url(BENCH_DB),
        redis_url=REDIS_URL,
        secret_key=DJANGO_SECRET_KEY,
        HOOKDESK_VAR_DIR=str(workdir / "var"),
        DEBUG=None,
    )


def prepare_hookdesk(env: dict[str, str], secret: str) -> None:
    """A fresh database and broker, migrated, with one ProcureIQ endpoint."""
    log(f"recreating database {BENCH_DB}, flushing redis db {REDIS_DB}")
    stack.database_recreate(env["DATABASE_URL"])
    stack.redis_flush(REDIS_URL)
    log("migrating")
    stack.migrate(env)
    output = stack.run(
        [sys.executable, "manage.py", "create_endpoint", SLUG, "--provider", "procureiq",
         "--secret", secret],
        env=env,
    )  # fmt: skip
    if output.strip().splitlines()[-1:] != [secret]:
        raise RuntimeError(f"create_endpoint did not echo the secret: {output!r}")


def psql_count(query: str) -> int:
    return int(stack.run(["psql", *PG_ARGS, BENCH_DB, "-tAc", query]).strip())


def redis_queue_length(env: dict[str, str]) -> int:
    key = f"django_q:{env.get('HOOKDESK_QUEUE_NAME', 'hookdesk')}:q"
    return int(stack.run(["redis-cli", "-h", HOST, "-n", REDIS_DB, "llen", key]).strip())


def gunicorn_worker_class(gunicorn_args: str) -> str:
    """The worker class the extra gunicorn options select (gunicorn's default is sync)."""
    worker_class = "sync"
    options = shlex.split(gunicorn_args)
    for index, option in enumerate(options):
        if option in ("-k", "--worker-class") and index + 1 < len(options):
            worker_class = options[index + 1]
        elif option.startswith("--worker-class="):
            worker_class = option.partition("=")[2]
    return worker_class


def hookdesk_load(load: LoadGenerator, args: argparse.Namespace) -> LoadGenerator:
    """Sync workers close the connection after every response and block on a connection until
    its request arrives. wrk reconnects at once, then waits (pacing, or a finished thread that
    never sends again), so idle connections stall the workers: use the asyncio client, which
    connects only to send."""
    if not load.wrk or gunicorn_worker_class(args.gunicorn_args) != "sync":
        return load
    if args.loadgen == "wrk":
        log("WARNING: wrk against sync workers: its idle reconnections stall them")
        return load
    log("sync workers: using the asyncio client (wrk's idle reconnections would stall them)")
    return replace(load, wrk=None)


def measure_hookdesk(
    load: LoadGenerator, secret: str, args: argparse.Namespace, workdir: Path
) -> TargetResult:
    load = hookdesk_load(load, args)
    env = hookdesk_env(workdir)
    prepare_hookdesk(env, secret)
    port = stack.free_port()
    log_path = workdir / "hookdesk-gunicorn.log"
    service = stack.web(
        env, port=port, workers=2, options=shlex.split(args.gunicorn_args), log_path=log_path
    )
    with serving("hookdesk", service, port, HOOKDESK_PROBE):
        workload = Workload(port, HOOKDESK_PATH, secret, f"{args.run_id}-hookdesk", service.pid)
        result = measure("hookdesk", shlex.join(service.command[1:]), load, workload, args)
    acked = sum(phase.received for phase in result.phases)
    result.checks.update(
        stored=psql_count("select count(*) from webhooks_event"),
        acked=acked,
        deliveries=psql_count("select count(*) from webhooks_delivery"),
        responses=sum(phase.responses for phase in result.phases),
        enqueued=redis_queue_length(env),
        server_log_problems=server_log_problems(log_path)[:20],
    )
    log(f"stored={result.checks['stored']} acked={acked}")
    return result


# --- Report -----------------------------------------------------------------------------------


def ratio(hookdesk: float | None, baseline: float | None) -> str:
    if hookdesk is None or baseline is None or not baseline or math.isnan(baseline):
        return "-"
    return f"{hookdesk / baseline:.2f}x"


def cell(value: float | None, digits: int) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def figures(result: TargetResult | None) -> dict[str, float | None]:
    if result is None:
        return dict.fromkeys(ROWS)
    return {
        "peak throughput (req/s)": result.peak.rps,
        "p50 at peak (ms)": result.peak.percentile_ms(50),
        "p99 at peak (ms)": result.peak.percentile_ms(99),
        "half-of-peak rate achieved (req/s)": result.half.rps,
        "p50 at half of peak (ms)": result.half.percentile_ms(50),
        "p99 at half of peak (ms)": result.half.percentile_ms(99),
        "non-2xx responses (all runs)": sum(p.non2xx for p in result.phases),
    }


ROWS = (
    "peak throughput (req/s)",
    "p50 at peak (ms)",
    "p99 at peak (ms)",
    "half-of-peak rate achieved (req/s)",
    "p50 at half of peak (ms)",
    "p99 at half of peak (ms)",
    "non-2xx responses (all runs)",
)


def target_verdicts(hookdesk: TargetResult | None, baseline: TargetResult | None) -> list[tuple]:
    """(description, measured, passed or None when not measurable)."""
    throughput = None
    if hookdesk and baseline and baseline.peak.rps:
        throughput = hookdesk.peak.rps / baseline.peak.rps
    p99 = hookdesk.half.percentile_ms(99) if hookdesk else None
    return [
        (
            f"durable ingest throughput >= {THROUGHPUT_TARGET}x baseline",
            "-" if throughput is None else f"{throughput:.2f}x",
            None if throughput is None else throughput >= THROUGHPUT_TARGET,
        ),
        (
            f"hookdesk p99 at half of peak < {P99_TARGET_MS:.0f} ms",
            "-" if p99 is None else f"{p99:.2f} ms",
            None if p99 is None else p99 < P99_TARGET_MS,
        ),
    ]


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def print_table(hookdesk: TargetResult | None, baseline: TargetResult | None) -> None:
    ours, theirs = figures(hookdesk), figures(baseline)
    print(f"\n{'figure':<38}{'hookdesk':>12}{'baseline':>12}{'hookdesk/baseline':>20}")
    for row in ROWS:
        digits = 0 if "req/s" in row or "non-2xx" in row else 2
        print(
            f"{row:<38}{cell(ours[row], digits):>12}{cell(theirs[row], digits):>12}"
            f"{ratio(ours[row], theirs[row]):>20}"
        )


def print_validity(results: dict[str, TargetResult], failures: dict[str, str]) -> None:
    print("\nvalidity")
    for name, error in failures.items():
        print(f"  {name}: NOT MEASURED: {error.splitlines()[0]}")
    for result in results.values():
        print(f"  {result.name}: {'valid' if not result.problems else 'NOT VALID'}")
        for problem in result.problems:
            print(f"    - {problem}")
        for phase in result.phases:
            if max(phase.busy_before, phase.foreign_cpu) > QUIET_BUSY:
                print(
                    f"  WARNING {result.name} {phase.phase}: other work used "
                    f"{phase.busy_before:.0%} of the machine before the run and "
                    f"{phase.foreign_cpu:.0%} during it: figures unreliable"
                )
        if "stored" in result.checks:
            checks = result.checks
            same = "OK" if checks["stored"] == checks["acked"] else "MISMATCH"
            print(
                f"  stored={checks['stored']} acked={checks['acked']} {same} "
                f"(deliveries={checks['deliveries']} responses={checks['responses']} "
                f"enqueued={checks['enqueued']})"
            )
        if problems := result.checks.get("server_log_problems"):
            print(f"  {result.name} server log: {len(problems)} suspicious lines, first:")
            for line in problems[:5]:
                print(f"    {line[:200]}")


def print_report(
    results: dict[str, TargetResult], failures: dict[str, str], args: argparse.Namespace
) -> None:
    hookdesk, baseline = results.get("hookdesk"), results.get("baseline")
    print(
        f"\nack path: up to {args.requests} requests or {args.duration:g}s per run, "
        f"concurrency {args.concurrency}"
    )
    for result in results.values():
        print(f"  {result.name}: {result.command}  (load: {result.loadgen})")
    print_table(hookdesk, baseline)
    if baseline and not args.baseline_nodelay:
        print(
            "\nnote: the baseline runs as `uvicorn --workers 2`, whose listener leaves TCP_NODELAY"
            " off\n(Kludex/uvicorn#3149): each keep-alive response after a connection's first"
            " waits ~40 ms\nfor a delayed ACK. --baseline-nodelay measures the consumer without"
            " that stall."
        )
    print("\ntargets")
    for description, measured, passed in target_verdicts(hookdesk, baseline):
        print(f"  {description:<50}{measured:>12}  {verdict(passed)}")
    print_validity(results, failures)


def exit_status(results: dict[str, TargetResult], failures: dict[str, str]) -> int:
    if failures or any(result.problems for result in results.values()):
        return 2
    verdicts = target_verdicts(results.get("hookdesk"), results.get("baseline"))
    return 1 if any(passed is False for _, _, passed in verdicts) else 0


def json_line(
    results: dict[str, TargetResult], failures: dict[str, str], args: argparse.Namespace
) -> str:
    verdicts = target_verdicts(results.get("hookdesk"), results.get("baseline"))
    return json.dumps(
        {
            "requests": args.requests,
            "duration": args.duration,
            "concurrency": args.concurrency,
            "baseline_nodelay": args.baseline_nodelay,
            "targets": {name: result.summary() for name, result in results.items()},
            "failures": failures,
            "verdicts": [
                {"target": description, "measured": measured, "passed": passed}
                for description, measured, passed in verdicts
            ],
            "exit_status": exit_status(results, failures),
        },
        separators=(",", ":"),
    )


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per peak run")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run, at most")
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument("--only", choices=("baseline", "hookdesk"))
    parser.add_argument(
        "--gunicorn-args",
        default=DEFAULT_GUNICORN_ARGS,
        help=f'extra gunicorn options (default "{DEFAULT_GUNICORN_ARGS}")',
    )
    parser.add_argument(
        "--baseline-nodelay",
        action="store_true",
        help="serve the baseline from a TCP_NODELAY listener (bench/uvicorn_nodelay.py): "
        "uvicorn --workers 2 leaves Nagle on, so keep-alive responses wait ~40 ms for ACKs",
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait, before each run, for other work on the machine to settle",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.requests < args.concurrency or args.duration <= 0:
        parser.error("need concurrency >= 1, requests >= concurrency and duration > 0")
    args.run_id = secrets.token_hex(3)
    return args


def load_generator(
    choice: str, workdir: Path, concurrency: int, quiet_wait: float
) -> LoadGenerator:
    wrk = None if choice == "python" else find_wrk()
    if choice == "wrk" and not wrk:
        raise RuntimeError("wrk is not available")
    if not wrk and choice == "auto":
        log("wrk unavailable: falling back to the asyncio load generator")
    return LoadGenerator(wrk, workdir, concurrency, quiet_wait)


def raise_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    secret = f"bench_{secrets.token_urlsafe(24)}"
    with tempfile.TemporaryDirectory(prefix="hookdesk-ack-bench-") as tmp:
        workdir = Path(tmp)
        load = load_generator(args.loadgen, workdir, args.concurrency, args.quiet_wait)
        log(f"load generator: {load.name}; work dir {workdir}")
        results: dict[str, TargetResult] = {}
        failures: dict[str, str] = {}
        for name, measure_target in (
            ("baseline", measure_baseline),
            ("hookdesk", measure_hookdesk),
        ):
            if args.only not in (None, name):
                continue
            try:
                results[name] = measure_target(load, secret, args, workdir)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                log(f"{name} could not be measured: {error}")
                failures[name] = str(error)
        print_report(results, failures, args)
    if args.json:
        print(json_line(results, failures, args))
    return exit_status(results, failures)


if __name__ == "__main__":
    sys.exit(main())
