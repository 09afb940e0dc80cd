"""The service's checks: parse a draft or raw message, check it, and say what to store.

``check_draft`` and ``check_eml`` are the whole of a check short of counting and storing. The
service runs them in one of two places (``service.check_processes``):

- 0 (the default, for one user's workstation): a thread of the service process, on its Checker;
- N > 0 (a shared server): ``CheckPool``, N worker processes that each load their own Checker
  (directory, policy, language model) once. Python runs one thread at a time per process, so
  this is how the service uses more than one core. The service process keeps the HTTP, the
  metrics and the store; a worker that dies is replaced, and the checks it had answer 503.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from correspondence_guard.engine import Checker
from correspondence_guard.errors import MessageError
from correspondence_guard.findings import Report
from correspondence_guard.intake.draft import Draft, message_from_draft
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.message import Message
from correspondence_guard.recording import message_key, message_meta
from correspondence_guard.store import MessageMeta

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's result: the report and, when it has findings, what the store keeps (no body);
    or the HTTP status and one-line reason why the input could not be checked."""

    report: Report | None = None
    meta: MessageMeta | None = None
    status: int = 200
    error: str = ""


def check_draft(checker: Checker, draft: Draft) -> CheckResult:
    try:
        message = message_from_draft(draft, checker.max_attachment_bytes)
    except MessageError as exc:
        return CheckResult(status=422, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - an unreadable draft is the client's problem, never a 500
        return CheckResult(status=422, error=f"not a readable draft ({type(exc).__name__})")
    raw = draft.model_dump_json(exclude={"trigger"}).encode()
    return _checked(checker, message, raw, "draft")


def check_eml(checker: Checker, raw: bytes) -> CheckResult:
    try:
        message = parse_eml(raw, checker.max_attachment_bytes)
    except MessageError as exc:
        return CheckResult(status=400, error=f"not a readable message: {exc}")
    except Exception as exc:  # noqa: BLE001 - malformed MIME is the client's problem, never a 500
        return CheckResult(status=400, error=f"not a readable message ({type(exc).__name__})")
    return _checked(checker, message, raw, "eml")


def _checked(checker: Checker, message: Message, raw: bytes, source: str) -> CheckResult:
    report = checker.check(message, source=source)
    if not report.findings:
        return CheckResult(report)
    return CheckResult(report, message_meta(message_key(raw, message.message_id), message, checker))


# --- in worker processes --------------------------------------------------------------------

_worker_checker: Checker | None = None


def _start_worker(directory: str, policy: str | None) -> None:
    """Runs once in each new worker process: load the Checker and its model."""
    global _worker_checker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the service, which stops us
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="cg-parent-watch", daemon=True).start()
    _worker_checker = Checker.load(directory, policy)
    _worker_checker.warm_up()


def _exit_with(parent: int) -> None:
    """Exit when the service process is gone (killed, crashed): the task queue's pipe never
    reaches end-of-file for us while a sibling worker holds its other end."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _in_worker(job: Callable[[Checker, T], CheckResult], arg: T) -> CheckResult:
    assert _worker_checker is not None, "the worker's initializer did not run"
    return job(_worker_checker, arg)


def _pid_after(pause: float) -> int:
    time.sleep(pause)  # long enough that every worker gets one of the warm-up calls
    return os.getpid()


class CheckProcessError(RuntimeError):
    """A worker process died while checking; the pool has been replaced."""


class CheckPool:
    """N worker processes for checks, each with its own Checker, fed from one queue (so a slow
    check never holds up requests that another worker could take)."""

    def __init__(self, processes: int, directory: Path | str, policy: Path | str | None):
        self.processes = processes
        self._initargs = (str(directory), None if policy is None else str(policy))
        self._lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the service process has threads (uvicorn, the scheduler) by now
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=self._initargs,
        )

    def warm_up(self, timeout: float = 600) -> None:
        """Start every worker and wait until each has loaded its Checker (blocking).

        Raises what a worker's start raised (e.g. the model is not installed), or TimeoutError.
        """
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while len(seen) < self.processes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(seen)} of {self.processes} check processes started")
            futures = [self._pool.submit(_pid_after, 0.2) for _ in range(self.processes)]
            try:
                seen.update(f.result(timeout=max(1.0, deadline - time.monotonic())) for f in futures)
            except BrokenProcessPool:
                raise RuntimeError("a check process failed to start (see the log above)") from None

    async def run(self, job: Callable[[Checker, T], CheckResult], arg: T) -> CheckResult:
        pool = self._pool
        try:
            future: Future[CheckResult] = pool.submit(_in_worker, job, arg)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by a replacement just now
            pool = self._replace(pool)
            future = pool.submit(_in_worker, job, arg)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(pool)
            raise CheckProcessError("a check process stopped; this check was not done") from None

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """The pool to use instead of ``broken`` (made by the first caller to notice, once)."""
        with self._lock:
            if self._closed:
                raise CheckProcessError("the service is stopping")
            if self._pool is broken:
                log.error("a check process stopped; starting new check processes")
                self._pool = self._new_pool()
                broken.shutdown(wait=False, cancel_futures=True)
            return self._pool

    def close(self) -> None:
        """Stop the workers: each finishes the check in hand (milliseconds) and exits."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
