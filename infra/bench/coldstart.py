#!/usr/bin/env python3
"""Cold-start benchmark for a Lambda function, run on this machine.

    coldstart.py --name NAME --event EVENT.json --expect TEXT [--runs 5] [--warm 500]
                 [--env-file FILE] [--env K=V ...] -- CMD ARGS...

The harness plays the part of the Lambda service: it serves the Runtime API
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) on 127.0.0.1 and starts CMD as
the function's process, the way Lambda starts a `bootstrap`. Per run it measures

  * init: spawn -> the first `GET /next` arriving (the function finished its init code),
  * first response: spawn -> the response to the invocation queued before the spawn,
  * RSS: the child's peak resident set (VmHWM) after the first response and after the warm ones,
  * CPU: the child's CPU time up to the first response, a check on the wall times above when
    other jobs share the machine,
  * warm latency: for each of --warm invocations in a row, /next handing out the event -> its
    response arriving.

What it does not measure: Lambda's own sandbox and code download, which happen before the
process starts and are the same for every runtime. Numbers are for comparing functions against
each other on one machine, not a prediction of AWS durations.

Human progress goes to stderr; the last stdout line is one JSON object with the medians.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API = "/2018-06-01/runtime"
INVOCATION_POST = re.compile(rf"{re.escape(API)}/invocation/([^/]+)/(response|error)")
# How long the function gets for each answer (the first one including its init); also the
# deadline announced to it in Lambda-Runtime-Deadline-Ms.
TIMEOUT_S = 30.0
ACCOUNT = "123456789012"
REGION = "cn-north-1"


class BenchError(Exception):
    """A failure worth stopping the whole benchmark for; main() prints it and exits 1."""


# --- The Runtime API ------------------------------------------------------------------------


class Invocation:
    """One event handed to the function, and what came back."""

    def __init__(self, event: bytes):
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.handed_out: float | None = None  # perf_counter when /next wrote it out
        self.finished: float | None = None  # perf_counter when its response/error was read
        self.outcome: str | None = None  # "response" or "error"
        self.body = b""
        self.done = threading.Event()


class RuntimeServer(ThreadingHTTPServer):
    """The Runtime API for one child process, and what it has seen.

    Each run gets a server of its own on a fresh port, so a request the killed child of an
    earlier run left in flight (a /next long-poll, or one still in a socket buffer) can never
    swallow an event or an init timestamp meant for the next child.
    """

    # Long-polls hold a thread each; daemon threads never keep the harness from exiting.
    daemon_threads = True

    def __init__(self, function_name: str) -> None:
        super().__init__(("127.0.0.1", 0), RuntimeAPI)
        self.function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.by_id: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.first_next: float | None = None
        self.init_error: bytes | None = None
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def submit(self, event: bytes) -> Invocation:
        invocation = Invocation(event)
        with self.lock:
            self.by_id[invocation.request_id] = invocation
        self.pending.put(invocation)
        return invocation

    def note_next(self, arrived: float) -> None:
        with self.lock:
            if self.first_next is None:
                self.first_next = arrived

    def close(self) -> None:
        """Stops serving once the child is dead, and wakes any /next still waiting."""
        self.shutdown()
        self.server_close()
        self.pending.put(None)

    def handle_error(self, request, client_address) -> None:
        # A child killed mid-request leaves a reset socket behind: expected, not worth a trace.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class RuntimeAPI(BaseHTTPRequestHandler):
    # HTTP/1.1 so connections stay open between requests: the Rust client (hyper) keeps a pooled
    # connection and would otherwise pay a reconnect per request. Every answer therefore carries
    # a Content-Length.
    protocol_version = "HTTP/1.1"
    # Each answer leaves in one write (buffered, flushed in _answer), and without Nagle: split
    # into headers and body, the body could wait for the client's delayed ACK (~40 ms) on a
    # reused connection. Lambda's own API server (Go's net/http) behaves the same way.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: RuntimeServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # one line per request would drown the progress output

    def do_GET(self) -> None:
        arrived = time.perf_counter()
        if self.path != f"{API}/invocation/next":
            self._answer(404, {"errorMessage": f"unknown path {self.path}"})
            return
        server = self.server
        server.note_next(arrived)
        invocation = server.pending.get()
        if invocation is None:
            # The run ended while this poll waited; its child is gone, so nobody is listening.
            # Passed on so that any other poll still waiting ends too.
            server.pending.put(None)
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000 + TIMEOUT_S * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.server.function_arn,
            "Lambda-Runtime-Trace-Id": trace_id(),
        }
        # Stamped before the write so the warm latency includes delivering the event, as it
        # would in Lambda.
        invocation.handed_out = time.perf_counter()
        self._answer(200, invocation.event, headers)

    def do_POST(self) -> None:
        body = self._read_body()
        received = time.perf_counter()
        server = self.server
        if self.path == f"{API}/init/error":
            server.init_error = body or b"(empty body)"
            self._answer(202, {"status": "OK"})
            return
        match = INVOCATION_POST.fullmatch(self.path)
        invocation = server.by_id.get(match.group(1)) if match else None
        if invocation is None:
            self._answer(400, {"errorMessage": f"no such invocation: {self.path}"})
            return
        invocation.finished = received
        invocation.outcome = match.group(2)
        invocation.body = body
        # The body Lambda itself sends. lambda_runtime (1.5) drops it unread, so hyper often
        # cannot pool that connection and opens a new one for the next /next; so it goes
        # against Lambda too, hence not "fixed" here with an empty body.
        self._answer(202, {"status": "OK"})
        # Signalled after the 202 so the next event is queued only once this exchange is over.
        invocation.done.set()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        # lambda_runtime streams responses this way (response mode "streaming"); the functions
        # here buffer theirs, but reading it keeps the connection usable if one ever streams.
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers (lambda_runtime reports mid-stream errors there); not needed here
        return b"".join(parts)

    def _answer(self, status: int, body: bytes | dict,
                headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def trace_id() -> str:
    """An X-Ray style trace header, as Lambda sends (some SDKs parse it)."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


# --- The environment ------------------------------------------------------------------------


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as infra/local/local.env writes them: `#` comments, blank lines, an
    optional `export `, values optionally in double quotes inside which `\\n` is a newline (PEM
    keys) or in single quotes taken literally."""
    env = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise BenchError(f"{path}:{number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[key] = value
    return env


def child_environment(args: argparse.Namespace, api: str) -> dict[str, str]:
    """What Lambda would give the process. Later layers win: parent, env file, --env, then the
    variables that must point at this harness."""
    env = dict(os.environ)
    if args.env_file:
        env.update(parse_env_file(Path(args.env_file)))
    for pair in args.env:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"--env {pair!r}: expected K=V")
        env[key] = value
    env["AWS_LAMBDA_RUNTIME_API"] = api
    env["AWS_LAMBDA_FUNCTION_NAME"] = args.name
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    # Lambda sets these too; lambda_runtime reads them into its Config (empty when absent).
    env.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{args.name}")
    env.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", "local/[$LATEST]coldstart")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or REGION
    env.setdefault("AWS_REGION", region)
    env.setdefault("AWS_DEFAULT_REGION", region)
    # Throwaway credentials: SDK clients are built at init but never used. boto3 looks for
    # credentials as it builds a client, and finding none it would probe the EC2 metadata
    # service, which has nothing to do with a Lambda cold start.
    env.setdefault("AWS_ACCESS_KEY_ID", "local")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    env["LAMBDA_TASK_ROOT"] = os.getcwd()
    return env


# --- One run ---------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had, what must fit in the function's
    memory size. It is the spawned process's own: a CMD that forks instead of exec'ing would
    report the wrapper."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


def cpu_ms(pid: int) -> float:
    """CPU time the process has used so far, all its live threads, from the scheduler's
    nanosecond counters. Unlike wall time it barely moves when other jobs compete for the CPU,
    so it tells a slow init apart from a busy machine."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended meanwhile
    return total_ns / 1e6


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    if not tail:
        return f" ({log_path} is empty)"
    return f"\n--- last lines of {log_path} ---\n" + "\n".join(tail)


def wait_for(invocation: Invocation, server: RuntimeServer, child: subprocess.Popen,
             log_path: Path, expect: str) -> str:
    """Blocks until the invocation is answered; any other ending is a BenchError."""
    deadline = time.monotonic() + TIMEOUT_S
    # The short wait only bounds how fast a dead child or an init error is noticed; the
    # timestamps themselves are taken by the server threads, so it does not blur them.
    while not invocation.done.wait(0.05):
        if server.init_error is not None:
            raise BenchError(f"the function reported an init error: "
                             f"{server.init_error.decode(errors='replace')}{log_tail(log_path)}")
        code = child.poll()
        if code is not None:
            raise BenchError(f"the function exited early (code {code}) before answering"
                             f"{log_tail(log_path)}")
        if time.monotonic() > deadline:
            where = ("never asked for it" if invocation.handed_out is None
                     else "got it, never answered")
            raise BenchError(f"no answer within {TIMEOUT_S:.0f} s (the function {where})"
                             f"{log_tail(log_path)}")
    body = invocation.body.decode(errors="replace")
    if invocation.outcome != "response":
        raise BenchError(f"the function answered with an error: {body}{log_tail(log_path)}")
    if expect not in body:
        raise BenchError(f"the response does not contain {expect!r}: {body}")
    return body


def log_file(name: str, run: int) -> Path:
    """Where the child's stdout and stderr go: kept for a look after a failure, and cheap
    enough not to weigh on the timings."""
    return Path(f"/tmp/coldstart-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-run{run}.log")


def one_run(number: int, args: argparse.Namespace, event: bytes) -> dict:
    server = RuntimeServer(args.name)
    child = None
    try:
        env = child_environment(args, server.address)
        log_path = log_file(args.name, number)
        # Queued before the spawn, as Lambda holds the triggering event while the sandbox
        # starts: the first /next is answered at once, so init time holds no harness latency.
        first = server.submit(event)
        with log_path.open("wb") as log:
            started = time.perf_counter()
            # A session of its own so the kill below reaches anything CMD started, and only
            # that.
            try:
                child = subprocess.Popen(args.cmd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            except OSError as e:
                raise BenchError(f"cannot start {args.cmd[0]}: {e}") from e
        wait_for(first, server, child, log_path, args.expect)
        result = {
            "init_ms": (server.first_next - started) * 1000,
            "first_response_ms": (first.finished - started) * 1000,
            "rss_mb": peak_rss_mb(child.pid),
            "cpu_ms": cpu_ms(child.pid),
        }
        warm = []
        for _ in range(args.warm):
            invocation = server.submit(event)
            wait_for(invocation, server, child, log_path, args.expect)
            warm.append((invocation.finished - invocation.handed_out) * 1000)
        result["rss_after_warm_mb"] = peak_rss_mb(child.pid)
        result["warm_ms"] = warm
        return result
    finally:
        if child is not None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()
        server.close()


# --- Reporting -------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest rank: always a latency that was actually observed, no interpolation."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Cold-start benchmark of a Lambda function against a local Runtime API.",
        usage="%(prog)s --name NAME --event EVENT.json --expect TEXT [--runs 5] [--warm 500] "
              "[--env-file FILE] [--env K=V ...] -- CMD ARGS...")
    parser.add_argument("--name", required=True, help="function name (AWS_LAMBDA_FUNCTION_NAME)")
    parser.add_argument("--event", required=True, type=Path, help="event JSON handed to it")
    parser.add_argument("--expect", required=True, help="text every response body must contain")
    parser.add_argument("--runs", type=int, default=5, help="cold starts (default 5)")
    parser.add_argument("--warm", type=int, default=500,
                        help="invocations after each cold start (default 500)")
    parser.add_argument("--env-file", help="KEY=VALUE file (dotenv style) for the function")
    parser.add_argument("--env", action="append", default=[], metavar="K=V",
                        help="one more variable; wins over --env-file")
    # Everything after `--` is the command, untouched by argparse.
    if "--" not in argv:
        parser.error("the function's command goes after `--`")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    args.cmd = argv[split + 1:]
    if not args.cmd:
        parser.error("no command after `--`")
    if args.runs < 1 or args.warm < 0:
        parser.error("--runs must be at least 1 and --warm not negative")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        event = args.event.read_bytes()
        json.loads(event)  # a malformed event would only show up as a confusing function error
    except (OSError, ValueError) as e:
        print(f"coldstart: error: --event {args.event}: {e}", file=sys.stderr)
        return 1

    print(f"coldstart: {args.name}: {args.runs} runs x {args.warm} warm invocations, "
          f"child output in {log_file(args.name, 1)} etc.", file=sys.stderr)
    runs = []
    try:
        for number in range(1, args.runs + 1):
            r = one_run(number, args, event)
            warm = (f"; warm p50 {percentile(r['warm_ms'], 50):.2f} ms, "
                    f"p99 {percentile(r['warm_ms'], 99):.2f} ms, "
                    f"rss {r['rss_after_warm_mb']:.1f} MB") if r["warm_ms"] else ""
            print(f"coldstart: run {number}/{args.runs}: init {r['init_ms']:.1f} ms, "
                  f"first response {r['first_response_ms']:.1f} ms (cpu {r['cpu_ms']:.1f} ms), "
                  f"rss {r['rss_mb']:.1f} MB{warm}", file=sys.stderr)
            runs.append(r)
    except BenchError as e:
        print(f"coldstart: error: {args.name}, run {len(runs) + 1}: {e}", file=sys.stderr)
        return 1

    warm = [ms for r in runs for ms in r["warm_ms"]]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    summary = {
        "name": args.name,
        "runs": len(runs),
        "init_ms": round(median("init_ms"), 2),
        "first_response_ms": round(median("first_response_ms"), 2),
        # CPU the child used up to its first response: a check on the wall times when the
        # machine is busy.
        "first_response_cpu_ms": round(median("cpu_ms"), 2),
        "rss_mb": round(median("rss_mb"), 1),
        "rss_after_warm_mb": round(median("rss_after_warm_mb"), 1),
        "warm_invocations": len(warm),
        "warm_p50_ms": round(percentile(warm, 50), 3) if warm else None,
        "warm_p99_ms": round(percentile(warm, 99), 3) if warm else None,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
