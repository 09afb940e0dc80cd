"""The service's checks: from the request's bytes to the answer's bytes, and where they run.

``ServiceChecks.run(kind, payload)`` is the whole of one check: read the JSON draft or the raw
message, check it, store the findings for the nightly review (masked evidence, never the body)
and write the JSON answer. The service runs it in one of two places
(``service.check_processes``):

- 0 (the default, for one user's workstation): a thread of the service process;
- N > 0 (a shared server): ``CheckPool``, N worker processes that each hold a Checker
  (directory, policy, language model) and a store connection. Python runs one thread at a
  time per process, so this is how the service uses more than one core. Each worker has its own
  pipe, read by the service's event loop; a request goes to whichever worker is free. Only
  bytes cross the pipe, so the service process does little more than HTTP. A worker that dies
  is replaced, and the check it had answers 503; a worker whose service has gone (its pipe
  closed) exits.

The workers are forked by multiprocessing's fork server, a clean, single-threaded child of the
service that loads the Checker (directory, policy, models) once (``service.preload``) before it
forks any worker: every worker shares those pages copy-on-write, so a worker costs about 20 MB
of its own rather than a model's 280 (PSS, not RSS, shows it: each worker's RSS counts the
shared pages again). A replacement worker gets the same Checker, read at the service's start
as the service's own is. Each worker opens its own store connection. The service itself never
forks: it has threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import signal
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from correspondence_guard.engine import Checker
from correspondence_guard.errors import MessageError
from correspondence_guard.findings import Report
from correspondence_guard.intake.draft import Draft, message_from_draft
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.message import Message
from correspondence_guard.service import preload
from correspondence_guard.store.db import Location, Store
from correspondence_guard.store.recording import message_key, message_meta, where_raised

log = logging.getLogger(__name__)

Kind = Literal["draft", "eml"]
BIG_PAYLOAD = 64 * 1024  # larger requests are written to a worker's pipe from a thread


class CheckRequest(Draft):
    """A draft as the add-in reads it, and what asked for the check."""

    trigger: Literal["send", "pane", ""] = Field(
        "", description="send: the on-send check; pane: the task pane"
    )


class Answer(NamedTuple):
    """A check's HTTP answer (JSON bytes), with the verdict and rules for the metrics."""

    status: int
    body: bytes
    verdict: str = ""
    rules: tuple[str, ...] = ()


def error_answer(status: int, detail: str) -> Answer:
    return Answer(status, _json({"detail": detail}))


def validation_detail(errors: list[Any]) -> str:
    """One line for a pydantic validation error: where and what, e.g. ``to.0.email: Field required``."""
    err = errors[0]
    if err["type"] == "json_invalid":
        return f"malformed JSON: {err.get('ctx', {}).get('error', '')}"
    where = ".".join(str(p) for p in err["loc"] if p != "body")
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ServiceChecks:
    """Check, store, answer. Never raises: a request that cannot be checked gets its 4xx or 500."""

    def __init__(self, checker: Checker, store: Store):
        self.checker = checker
        self.store = store

    def run(self, kind: Kind, payload: bytes) -> Answer:
        try:
            return self.draft(payload) if kind == "draft" else self.eml(payload)
        except Exception as exc:  # noqa: BLE001 - logged by type and place: its text may quote the message
            log.error("a check failed: %s at %s", type(exc).__name__, where_raised(exc))
            return error_answer(500, f"the check failed ({type(exc).__name__}); the service log has where")

    def draft(self, payload: bytes) -> Answer:
        try:
            draft = CheckRequest.model_validate_json(payload)
        except ValidationError as exc:
            return error_answer(422, validation_detail(exc.errors()))
        try:
            message = message_from_draft(draft, self.checker.max_attachment_bytes)
        except MessageError as exc:
            return error_answer(422, str(exc))
        except Exception as exc:  # noqa: BLE001 - an unreadable draft is the client's problem, never a 500
            return error_answer(422, f"not a readable draft ({type(exc).__name__})")
        if message.sender is None and not message.recipients:  # `{}` or a subject alone: not a draft
            return error_answer(422, "not a valid draft: no sender and no recipients")
        where = {"send": "on-send", "pane": "task-pane"}.get(draft.trigger, "api")
        raw = draft.model_dump_json(exclude={"trigger"}).encode()
        return self._checked(message, raw, "draft", where)

    def eml(self, raw: bytes) -> Answer:
        try:
            message = parse_eml(raw, self.checker.max_attachment_bytes)
        except MessageError as exc:
            return error_answer(400, f"not a readable message: {exc}")
        except Exception as exc:  # noqa: BLE001 - malformed MIME is the client's problem, never a 500
            return error_answer(400, f"not a readable message ({type(exc).__name__})")
        return self._checked(message, raw, "eml", "eml")

    def _checked(self, message: Message, raw: bytes, source: str, where: str) -> Answer:
        report = self.checker.check(message, source=source)
        if report.findings:
            self._record(message, raw, report, where)
        rules = tuple(f.rule for f in report.findings)
        return Answer(200, _json(report.to_dict()), report.verdict.value, rules)

    def _record(self, message: Message, raw: bytes, report: Report, where: str) -> None:
        """Keep the findings for the nightly review: masked evidence and subject, never the body."""
        meta = message_meta(message_key(raw, message.message_id), message, self.checker)
        try:
            self.store.record(meta, report, Location(account="service", folder=where))
        except SQLAlchemyError as exc:  # the user still gets the check; the review misses one row
            log.error("could not store findings: %s", type(exc).__name__)


# --- in a worker process ---------------------------------------------------------------------


def _serve_checks(conn: Connection, directory: str, policy: str | None, store_url: str) -> None:
    """A worker process: load once, say ready (or why not), then answer checks until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the service, which stops us
    logging.basicConfig(format="correspondence-guard check process: %(levelname)s %(message)s")
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)  # its debug log quotes the text
    try:
        # forked by the fork server: the Checker it loaded, shared; else (it could not) our own
        checker = preload.checker(directory, policy) or Checker.load(directory, policy)
        checker.warm_up()
        store = Store(store_url, create=False)  # the service has migrated it
    except Exception as exc:  # noqa: BLE001 - reported to the service, which reports it in /readyz
        with contextlib.suppress(OSError):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    checks = ServiceChecks(checker, store)
    try:
        conn.send(("ready", os.getpid()))
        while True:
            kind, payload = conn.recv()
            conn.send(checks.run(kind, payload))
    except (EOFError, OSError):  # the service closed our pipe (stopping), or is gone
        pass
    finally:
        store.close()


# --- in the service process ------------------------------------------------------------------


class CheckProcessError(RuntimeError):
    """No check process could do this check (one died while checking, or the service is stopping)."""


@dataclass(eq=False)
class _Job:
    kind: Kind
    payload: bytes
    answer: asyncio.Future[Answer]


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    loaded: asyncio.Future[None]
    alive: bool = True
    started: bool = False  # forked (its process can be joined)
    job: _Job | None = field(default=None, repr=False)


class CheckPool:
    """N worker processes for checks, each with its own Checker and pipe. A check goes to a free
    worker, or waits its turn for the first worker to finish (so a slow check never holds up
    requests another worker could take). A worker's next check is sent from the event loop's
    callback that reads its answer, so it never waits for a request's task to wake up.

    Used from the service's event loop: ``start()``, ``await ready()``, ``await run(kind, payload)``,
    ``close()``.
    """

    def __init__(self, processes: int, directory: Path | str, policy: Path | str | None, store_url: str):
        self.processes = processes
        self._args = (str(directory), None if policy is None else str(policy), store_url)
        # forked by the fork server, never by the service (it has threads): see the module's notes
        self._context = multiprocessing.get_context("forkserver")
        self._workers: set[_Worker] = set()  # loading or loaded
        self._first: list[_Worker] = []
        self._idle: deque[_Worker] = deque()
        self._waiting: deque[_Job] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def start(self) -> None:
        """Start the worker processes (returns at once; ``ready`` waits until they have loaded).

        The fork server (one per service process, started with the first worker) loads the
        models named by this pool's directory and policy before it forks a worker. Its
        environment says what to load; the variable stays set, so a fork server that
        multiprocessing restarts loads the same."""
        self._loop = asyncio.get_running_loop()
        directory, policy, store = self._args
        spec = {"directory": directory, "policy": policy, "store": store, "service": os.getpid()}
        os.environ[preload.ENV] = json.dumps(spec)
        self._context.set_forkserver_preload([preload.__name__])
        self._first = [self._spawn() for _ in range(self.processes)]

    async def ready(self) -> None:
        """Wait until every worker has loaded its Checker; raises RuntimeError with why one could not."""
        await asyncio.gather(*(w.loaded for w in self._first))

    async def run(self, kind: Kind, payload: bytes) -> Answer:
        if self._closed or self._loop is None:
            raise CheckProcessError("the service is stopping")
        if not self._workers:
            raise CheckProcessError("no check process could start (see the service log)")
        job = _Job(kind, payload, self._loop.create_future())
        if self._idle:
            self._send(self._idle.popleft(), job)
        else:
            self._waiting.append(job)
        return await job.answer

    def _send(self, worker: _Worker, job: _Job) -> None:
        assert self._loop is not None
        worker.job = job
        if len(job.payload) > BIG_PAYLOAD:  # the pipe holds 64 KiB: do not block the event loop
            sent = self._loop.run_in_executor(None, worker.conn.send, (job.kind, job.payload))
            sent.add_done_callback(lambda f: self._lost(worker) if f.exception() is not None else None)
            return
        try:
            worker.conn.send((job.kind, job.payload))
        except (OSError, ValueError):
            self._lost(worker)

    def _free(self, worker: _Worker) -> None:
        """Give the worker the next waiting check, or list it as idle."""
        if not worker.alive or self._closed:
            return
        while self._waiting:
            job = self._waiting.popleft()
            if not job.answer.done():  # not abandoned by a cancelled request
                self._send(worker, job)
                return
        self._idle.append(worker)

    def _spawn(self) -> _Worker:
        assert self._loop is not None
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve_checks, args=(theirs, *self._args), name="cg-check", daemon=True
        )
        worker = _Worker(process, ours, self._loop.create_future())
        self._workers.add(worker)
        # the first start waits for the fork server to load the models (seconds): off the event loop
        starting = self._loop.run_in_executor(None, process.start)
        starting.add_done_callback(lambda f: self._started(worker, theirs, f))
        return worker

    def _started(self, worker: _Worker, theirs: Connection, starting: asyncio.Future[None]) -> None:
        """The fork server has forked the worker (or could not): listen to it."""
        assert self._loop is not None
        theirs.close()  # so that its death reaches us as end-of-file
        error = None if starting.cancelled() else starting.exception()
        if error is None and not starting.cancelled():
            worker.started = True
        if not worker.alive:  # the pool closed while it started: its pipe is closed, so it exits
            if worker.started:
                self._loop.run_in_executor(None, worker.process.join, 10)  # reap it
            return
        if not worker.started:
            log.error("could not start a check process: %s", type(error).__name__)
            worker.alive = False
            self._workers.discard(worker)
            worker.conn.close()
            if not worker.loaded.done():
                worker.loaded.set_exception(RuntimeError(f"a check process could not start: {error!r}"))
            if not self._workers:
                self._refuse_waiting()
            return
        self._loop.add_reader(worker.conn.fileno(), self._readable, worker)

    def _readable(self, worker: _Worker) -> None:
        """The worker said something (its first word is ready or failed; then answers), or died."""
        try:
            said = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(worker)
            return
        if not worker.loaded.done():
            if said[0] == "ready":
                worker.loaded.set_result(None)
                self._free(worker)
            else:
                log.error("a check process could not start: %s", said[1])
                worker.loaded.set_exception(RuntimeError(said[1]))
            return
        job, worker.job = worker.job, None
        if job is not None and not job.answer.done():
            job.answer.set_result(said)
        self._free(worker)

    def _lost(self, worker: _Worker) -> None:
        """The worker's pipe closed: fail its check, and replace it if it had been working."""
        if not worker.alive:
            return
        worker.alive = False
        self._workers.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        assert self._loop is not None
        self._loop.remove_reader(worker.conn.fileno())
        worker.conn.close()
        self._loop.run_in_executor(None, worker.process.join, 10)  # reap it
        job, worker.job = worker.job, None
        if job is not None and not job.answer.done():
            job.answer.set_exception(CheckProcessError("a check process stopped; this check was not done"))
        if self._closed:
            return
        if not worker.loaded.done():
            worker.loaded.set_exception(RuntimeError("a check process stopped while loading"))
        if worker.loaded.exception() is None:
            log.error("a check process stopped; starting another")
            self._spawn()
        elif not self._workers:  # none left, none coming: answer the checks waiting for one
            self._refuse_waiting()

    def _refuse_waiting(self) -> None:
        while self._waiting:
            job = self._waiting.popleft()
            if not job.answer.done():
                job.answer.set_exception(CheckProcessError("no check process could start"))

    def close(self, timeout: float = 10) -> None:
        """Stop the workers: each finishes the check in hand (milliseconds) and exits. Idempotent.

        Called on the event loop as the service stops (uvicorn has let its requests finish by
        then; any check still unanswered gets CheckProcessError), or after the loop has gone.
        """
        self._closed = True
        workers, self._workers = list(self._workers), set()
        on_loop = self._loop is not None and not self._loop.is_closed()
        unanswered = [*self._waiting, *(w.job for w in workers if w.job is not None)]
        self._waiting.clear()
        for job in unanswered if on_loop else ():
            if not job.answer.done():
                job.answer.set_exception(CheckProcessError("the service is stopping"))
        for worker in workers:
            worker.alive = False
            if on_loop and worker.started:
                assert self._loop is not None
                self._loop.remove_reader(worker.conn.fileno())
            worker.conn.close()  # end-of-file for the worker
        for worker in workers:
            if not worker.started:  # still being forked: it gets end-of-file and exits
                continue
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
