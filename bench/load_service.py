"""Load test of the HTTP service: N concurrent clients posting a mix of drafts to /v1/check.

Starts ``correspondence-guard serve`` in its own process on a free loopback port (test
directory, default policy, SQLite store in a temp folder, ``service.check_processes`` one per
core unless ``--check-processes`` says otherwise), waits for /readyz, warms up, then runs
``--clients`` keep-alive clients for ``--seconds`` (each stops early after ``--max-requests``),
and prints the latency percentiles, throughput, errors, and the resident memory and CPU of the
service and its check processes (memory at the start and end of the run, its peak, and where
it stood at each quarter of the run, sampled every second: stable memory levels off).

    .venv/bin/python bench/load_service.py [--clients 20] [--seconds 30] [--think-ms 0]
    .venv/bin/python bench/load_service.py --check-processes 0     # checks inside the service process
    .venv/bin/python bench/load_service.py --url https://cg.example:8765 --token T   # a running service
    .venv/bin/python bench/load_service.py --attack     # the same, while the service is attacked

``--attack`` runs, in a process of its own from the warm-up on, what issue 11 tried from a web
page and the network:
1,100 idle sockets held open (each reopened a second after the service closes it), slowloris connections sending a header line a
second, unauthenticated 20 MB uploads in a loop, and cross-site script loads of the add-in's
script. The add-in's real checks must keep their p95.

The mix is weighted like a council mailbox: mostly internal mail (no private recipient, so the
personal-data analyser never runs), some to residents and partners, some to private webmail
with and without personal data, some replies to all members. Each request's subject carries a
counter, so no two drafts are identical. The clients write HTTP/1.1 on plain asyncio streams
rather than through an HTTP library: the load generator shares the machine's cores with the
service, so it should spend as little CPU per request as it can (its CPU is printed too). Target on a 2-core
machine: 0 errors, p95 <= 100 ms. Always exits 0 unless the service could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import multiprocessing
import os
import random
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx  # only to wait for /readyz

ROOT = Path(__file__).resolve().parent.parent
DIRECTORY = ROOT / "tests" / "data" / "directory.yaml"
TOKEN = "bench-token-7c1e5a9f"
P95_TARGET_MS = 100.0

LEADER = {"emailAddress": "cllr.beatrix.quennell@ashdown.gov.uk", "displayName": "Beatrix Quennell"}
MEMBER = {"emailAddress": "cllr.lorcan.pettifer@ashdown.gov.uk", "displayName": "Lorcan Pettifer"}
PARAGRAPH = (
    "Thank you for the update on the draft budget and the consultation timetable. I have read the "
    "papers for Thursday's meeting and have a few questions about the figures for the leisure "
    "centre and the waste contract, which I will raise at the meeting. "
)


def _to(address: str, kind: str = "user") -> list[dict[str, str]]:
    return [{"emailAddress": address, "displayName": "", "recipientType": kind}]


# (weight, draft): the subject gets " #<n>" appended per request.
MIX: list[tuple[int, dict[str, Any]]] = [
    (40, {"from": LEADER, "to": _to(MEMBER["emailAddress"]), "subject": "Lunch",
          "body": {"html": "<p>See you at noon.</p>"}, "composeType": "newMail"}),
    (20, {"from": MEMBER, "to": _to("committee.services@ashdown.gov.uk"), "subject": "Thursday's papers",
          "body": {"html": "<p>" + PARAGRAPH * 6 + "</p>"}, "composeType": "newMail"}),
    (10, {"from": MEMBER, "to": _to("ward.partner@nhs.net", "externalUser"), "subject": "Surgery dates",
          "body": {"html": "<p>The next ward surgeries are on the first Saturday of each month.</p>"}}),
    (10, {"from": MEMBER, "to": _to("a.resident@gmail.com", "externalUser"), "subject": "Your enquiry",
          "body": {"html": "<p>Thank you for writing. I have asked officers to look into the bins on your "
                   "street and will come back to you next week.</p>"}}),
    (10, {"from": MEMBER, "to": _to("j.smith.home@gmail.com", "externalUser"), "subject": "Housing case",
          "body": {"html": "<p>Mrs Jane Doverhampton of 12 Tollgate Lane, phone 07700 900123, is in rent "
                   "arrears and has dementia. Can you help?</p>"}}),
    (10, {"from": LEADER, "to": _to("all.councillors@ashdown.gov.uk", "distributionList"),
          "subject": "RE: budget consultation", "body": {"html": "<p>I agree with the points raised.</p>"},
          "composeType": "reply"}),
]  # fmt: skip


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the service and its check processes)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += tree(int(child))
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of the service and its check processes, in KiB."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the service and its check processes (from /proc), in seconds."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(tmp: Path, check_processes: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp / "config.yaml"
    config.write_text(
        f"directory: {DIRECTORY}\nstore:\n  url: sqlite:///{tmp / 'store.db'}\n"
        f"service:\n  host: 127.0.0.1\n  port: {port}\n  allow_http: true\n  token_env: CG_BENCH_TOKEN\n"
        f"  check_processes: {check_processes}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "CG_BENCH_TOKEN": TOKEN}
    log = (tmp / "service.log").open("wb")
    cmd = [sys.executable, "-m", "correspondence_guard", "serve", "--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(base: str, proc: subprocess.Popen[bytes] | None, verify: bool) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", verify=verify, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready in 180 s")


class Connection:
    """One keep-alive HTTP/1.1 connection that posts pre-encoded JSON and reads the answer.

    Plain asyncio streams rather than an HTTP library: on a 2-core machine the load generator
    shares the cores with the service, so it should cost as little CPU per request as it can.
    """

    def __init__(self, base: str, token: str, verify: bool):
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            self.ssl = ssl.create_default_context()
            if not verify:
                self.ssl.check_hostname, self.ssl.verify_mode = False, ssl.CERT_NONE
        self.head = (
            f"POST /v1/check HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        assert self.reader is not None
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            payload = await self.reader.readexactly(int(fields.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def client(
    conn: Connection, drafts: list[dict[str, Any]], counter: itertools.count[int], stop_at: float,
    max_requests: int, think: float, latencies: list[tuple[bool, float]], errors: list[str], rng: random.Random,
) -> None:  # fmt: skip
    try:
        for _ in range(max_requests):
            if time.monotonic() >= stop_at:
                return
            draft = dict(rng.choice(drafts))
            draft["subject"] = f"{draft['subject']} #{next(counter)}"
            body = json.dumps(draft).encode()
            started = time.perf_counter()
            try:
                status, payload = await conn.post(body)
                if status != 200:
                    errors.append(f"HTTP {status}")
                elif "verdict" not in json.loads(payload):
                    errors.append("no verdict in the answer")
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors.append(f"{type(exc).__name__} {exc}".strip())
            private = any(r["emailAddress"].endswith("@gmail.com") for r in draft["to"])
            latencies.append((private, time.perf_counter() - started))
            if think:
                await asyncio.sleep(think)
    finally:
        await conn.close()


async def run(
    base: str, token: str, args: argparse.Namespace, seconds: float, pid: int | None
) -> dict[str, Any]:
    drafts = [draft for weight, draft in MIX for _ in range(weight)]
    latencies: list[tuple[bool, float]] = []
    errors: list[str] = []
    counter = itertools.count()
    memory = [rss_kib(pid)] if pid else []  # one sample a second
    stop_at = time.monotonic() + seconds
    tasks = [
        asyncio.create_task(
            client(Connection(base, token, not args.insecure), drafts, counter, stop_at, args.max_requests,
                   args.think_ms / 1000, latencies, errors, random.Random(i))
        )
        for i in range(args.clients)
    ]  # fmt: skip
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1)
        if pid:
            memory.append(rss_kib(pid))
    await asyncio.gather(*tasks)
    return {"latencies": latencies, "errors": errors, "memory": memory}


def attack_process(base: str, seconds: float, results: multiprocessing.Queue[Any]) -> None:
    """The attack in a process of its own, as a web page or another machine would be: in the
    load generator's event loop, its 1,100 sockets delayed the clients' own reads and writes,
    and the p95 measured that as well as the service. Puts its tally and CPU seconds on ``results``."""
    tally: collections.Counter[str] = collections.Counter()
    asyncio.run(attack(base, time.monotonic() + seconds, tally))
    used = resource.getrusage(resource.RUSAGE_SELF)
    results.put((dict(tally), used.ru_utime + used.ru_stime))


async def attack(base: str, stop_at: float, tally: dict[str, int]) -> None:
    """Idle sockets, slowloris, unauthenticated uploads and cross-site script loads, until ``stop_at``."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    async def idle() -> None:  # hold a socket open; a second after the service closes it, open another
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                tally["idle opened"] += 1
                with contextlib.suppress(asyncio.TimeoutError, OSError):
                    await asyncio.wait_for(reader.read(1), max(0.1, stop_at - time.monotonic()))
                writer.close()
            except OSError:
                tally["idle refused"] += 1
            await asyncio.sleep(1)

    async def slowloris() -> None:
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\n".encode())
                while time.monotonic() < stop_at and not reader.at_eof():
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                    await asyncio.sleep(1)
                tally["slowloris cut off"] += 1
                writer.close()
            except OSError:
                await asyncio.sleep(0.5)

    async def upload() -> None:  # 20 MB with no token
        junk = b"x" * (20 * 1024 * 1024)
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(
                    f"POST /v1/check HTTP/1.1\r\nHost: {url.netloc}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(junk)}\r\n\r\n".encode()
                )
                with contextlib.suppress(OSError):
                    writer.write(junk)
                    await writer.drain()
                head = await asyncio.wait_for(reader.readline(), 10)
                tally["uploads refused " + head.decode("latin-1").split(" ")[1:2][0]] += 1
                writer.close()
            except (TimeoutError, OSError, IndexError):
                tally["uploads dropped"] += 1
                await asyncio.sleep(0.1)

    async def cross_site() -> None:
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(
                    f"GET /addin/launchevent.js HTTP/1.1\r\nHost: {url.netloc}\r\n"
                    "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n"
                    "Sec-Fetch-Dest: script\r\nConnection: close\r\n\r\n".encode()
                )
                answer = await asyncio.wait_for(reader.read(), 10)
                tally["cross-site " + answer.decode("latin-1").split(" ")[1:2][0]] += 1
                if TOKEN.encode() in answer:
                    tally["TOKEN LEAKED"] += 1
                writer.close()
            except (TimeoutError, OSError, IndexError):
                tally["cross-site dropped"] += 1
            await asyncio.sleep(0.2)

    jobs = [idle() for _ in range(1100)] + [slowloris() for _ in range(20)]
    jobs += [upload() for _ in range(4)] + [cross_site() for _ in range(2)]
    await asyncio.gather(*jobs)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=20_000, help="per client")
    parser.add_argument("--think-ms", type=float, default=0, help="pause between a client's requests")
    parser.add_argument("--warm-up", type=float, default=3, help="seconds of load before measuring")
    parser.add_argument(
        "--check-processes", type=int, default=os.cpu_count() or 1,
        help="service.check_processes of the service started (default: one per core; 0: in-process)",
    )  # fmt: skip
    parser.add_argument("--url", help="a running service instead of starting one")
    parser.add_argument("--token", default=os.environ.get("CG_SERVICE_TOKEN", TOKEN))
    parser.add_argument("--insecure", action="store_true", help="do not verify the service's certificate")
    parser.add_argument(
        "--attack", action="store_true", help="attack the service while measuring (see above)"
    )
    args = parser.parse_args()

    proc = None
    with tempfile.TemporaryDirectory(prefix="cg-load-") as tmp:
        if args.url:
            base, pid = args.url.rstrip("/"), None
        else:
            proc, base = start_service(Path(tmp), args.check_processes)
            pid = proc.pid
        try:
            wait_ready(base, proc, verify=not args.insecure)
            attacker = None
            if args.attack and pid is not None:  # from the warm-up on: the run is measured under a flood
                attack_results: multiprocessing.Queue[Any] = multiprocessing.Queue()
                attacker = multiprocessing.Process(
                    target=attack_process, args=(base, args.warm_up + args.seconds + 2, attack_results)
                )
                attacker.start()
            asyncio.run(run(base, args.token, args, args.warm_up, None))
            rss_start = rss_kib(pid) if pid else 0
            cpu_start = cpu_seconds(pid) if pid else 0.0
            own_start = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            result = asyncio.run(run(base, args.token, args, args.seconds, pid))
            elapsed = time.monotonic() - started
            rss_end = rss_kib(pid) if pid else 0
            cpu = cpu_seconds(pid) - cpu_start if pid else 0.0
            own = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = own.ru_utime + own.ru_stime - own_start.ru_utime - own_start.ru_stime
            attack_tally, attack_cpu = attack_results.get(timeout=60) if attacker else ({}, 0.0)
            if attacker:
                attacker.join(10)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
                problems = [
                    line
                    for line in (Path(tmp) / "service.log").read_text(errors="replace").splitlines()
                    if not line.startswith(("INFO", "correspondence-guard: serving"))
                ]
                if problems:
                    print("service log (other than INFO):", *problems[-20:], sep="\n  ")

    lat = sorted(seconds for _, seconds in result["latencies"])
    private = sorted(seconds for is_private, seconds in result["latencies"] if is_private)
    others = sorted(seconds for is_private, seconds in result["latencies"] if not is_private)
    errors = result["errors"]
    p50, p95, p99 = (percentile(lat, q) * 1000 for q in (50, 95, 99))
    if not args.url:
        print(f"service: check_processes {args.check_processes}")
    print(f"clients {args.clients}, {elapsed:.1f} s, think {args.think_ms:g} ms: {len(lat)} requests, "
          f"{len(lat) / elapsed:.1f} req/s")  # fmt: skip
    print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {lat[-1] * 1000:.1f}")
    for label, values in (("to private webmail (analyser runs)", private), ("internal and partners", others)):
        if values:
            print(f"  {label}: {len(values)}, p50 {percentile(values, 50) * 1000:.1f}  "
                  f"p95 {percentile(values, 95) * 1000:.1f}")  # fmt: skip
    print(f"errors: {len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else ""))
    if attack_tally:
        print("under attack: " + ", ".join(f"{k} {v}" for k, v in sorted(attack_tally.items())))
        print(f"  the attacker's own process used {attack_cpu:.1f} s of CPU")
    if pid:
        memory = result["memory"]
        quarters = [memory[min(len(memory) - 1, len(memory) * q // 4)] for q in range(5)]
        print(f"service RSS MiB: start {rss_start / 1024:.1f}  end {rss_end / 1024:.1f}  "
              f"peak {max(memory) / 1024:.1f}")  # fmt: skip
        print("  by quarter of the run: " + " -> ".join(f"{kib / 1024:.1f}" for kib in quarters))
        print(f"service CPU: {cpu:.1f} s, {cpu / max(len(lat), 1) * 1000:.1f} ms per request; "
              f"load generator CPU: {client_cpu:.1f} s; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    verdict = "met" if not errors and p95 <= P95_TARGET_MS else "NOT met"
    print(f"target (0 errors, p95 <= {P95_TARGET_MS:g} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
