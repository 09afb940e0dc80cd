"""What the check processes share: the models, loaded once in their fork server.

``CheckPool`` starts its check processes from multiprocessing's fork server, which imports this
module once before it forks any of them. Importing it loads what a check process needs and
never changes: the Checker (directory, policy), the spaCy pipeline, the Presidio analyser, the
language model and its sentence encoder's graph (ONNX Runtime's session, which starts threads,
is made in each check process), and checks two drafts so that what the rules
build on first use is built too. Each check process forked afterwards shares those pages with
the fork server, copy-on-write, instead of loading its own copy: a check process then costs
about 20 MB of its own rather than 280.

What to load comes from the environment variable ``CG_CHECK_PRELOAD`` (JSON: the directory and
policy paths, the store's URL and the service's process id), which ``CheckPool`` sets before the
fork server starts; only a direct child of that service (the fork server) loads on import. The
fork server must stay single-threaded (a fork copies one thread; a lock held by another would
stay locked in the child): OpenBLAS is kept to one thread by ``correspondence_guard._threads``,
and the tokenizer's thread pool is turned off here, in it and in every check process (with one
check process per core, threads inside a check only contend).

Nothing here raises: if anything cannot load, the check processes load it themselves and report
the error as they always have.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from correspondence_guard.engine import Checker

ENV = "CG_CHECK_PRELOAD"

# Two drafts checked once before any fork, so that what the rules build on first use (the
# analyser's recognizers, phrase patterns, caches of the model) is built here, once, and shared.
_WARM_UP_TEXT = (
    "Dear colleague, I will make sure the repairs are done by Friday. You must sort this out now. "
    "Mrs Jane Doverhampton of 12 Tollgate Lane, AD1 2BX, phone 07700 900123, date of birth "
    "3 March 1961, is in rent arrears; her reference is HSG/2026/0042. Kind regards"
)


_CHECKERS: dict[tuple[str, str | None], Checker] = {}


def checker(directory: str, policy: str | None) -> Checker | None:
    """The Checker loaded here for this directory and policy, if any: a check process forked
    from here uses it rather than loading its own (read at the service's start, as the
    service's own Checker is)."""
    return _CHECKERS.get((directory, policy))


def load(directory: str, policy: str | None, store_url: str | None = None) -> None:
    """Import what a check process runs, load the Checker's models and check two drafts with it
    (what is loaded stays in the process); with ``store_url``, make (not connect) its engine."""
    import correspondence_guard.service.check_pool  # noqa: F401 - what a check process imports
    from correspondence_guard.detectors.encoder import in_fork_server
    from correspondence_guard.engine import Checker
    from correspondence_guard.store.db import Store

    if store_url is not None:
        Store(store_url, create=False).close()  # imports its database's driver; connects to nothing
    with in_fork_server():  # the sentence encoder's graph is built here, its session in each check process
        loaded = Checker.load(directory, policy)
        loaded.warm_up()
        _CHECKERS[(directory, policy)] = loaded
        _warm_up_checks(loaded)


def _warm_up_checks(loaded: Checker) -> None:
    from correspondence_guard.intake.draft import parse_draft

    people = [*loaded.directory.members, *loaded.directory.officers]
    if not people:
        return
    sender = people[0]
    to = people[-1]
    for recipient in (to.email, "warm.up.resident@gmail.com"):
        draft: dict[str, object] = {
            "from": {"email": sender.email, "name": sender.name},
            "to": [{"email": recipient}],
            "subject": "Repairs",
            "body": {"text": _WARM_UP_TEXT},
            "composeType": "newMail",
        }
        loaded.check(parse_draft(draft, loaded.max_attachment_bytes), source="warm-up")


def _preload() -> bool:
    try:
        spec = json.loads(os.environ[ENV])
        if spec["service"] != os.getppid():  # not the fork server of the service that asked
            return False
    except (KeyError, ValueError, TypeError):
        return False
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # no thread pool: this process forks
    try:
        import logging

        logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)  # its debug log quotes the text
        load(spec["directory"], spec["policy"], spec["store"])
    except Exception:  # noqa: BLE001 - each check process loads (and reports) what failed here
        return False
    finally:
        gc.collect()
        # what is loaded now lives as long as the process: keep the collector from writing to
        # its objects' headers, which would copy their pages into every check process
        gc.freeze()
        _trim()
    return True


def _trim() -> None:
    """Give the heap's free pages back (glibc): loading freed some 20 MB of temporaries."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


_preload()
