"""Watch IMAP folders: check each new message once and record it in the findings store.

One thread and one connection per watched folder (IDLE reports only the selected folder);
a server without IDLE is polled every ``poll_seconds``. Per folder a checkpoint
(UIDVALIDITY, highest UID processed) is saved in the store at least every second, after
each batch and on stop, so a restart neither misses nor repeats one (after a crash the last
second's messages are read again and the store, keyed by message, records them once); a
changed UIDVALIDITY rescans the folder, adding only locations for messages already recorded. Network, server or database failures reconnect with
exponential backoff and jitter, forever. ``stop`` (SIGTERM) is honoured between messages.

Read-only unless a keyword action is configured (EXAMINE, else SELECT); bodies are fetched
with BODY.PEEK[] so ``\\Seen`` is never set. Logs name accounts, folders, UIDs and hashed
message keys: never subjects, addresses or bodies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator

import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from correspondence_guard.config import ConfigError, WatchAccount, WatchSettings
from correspondence_guard.engine import Checker
from correspondence_guard.mailbox import imap as imap_actions
from correspondence_guard.mailbox.graph import GraphClient, GraphError, GraphFolderWatch
from correspondence_guard.mailbox.imap import backoff, describe
from correspondence_guard.mailbox.oauth2 import TokenError
from correspondence_guard.store.db import Location, Store
from correspondence_guard.store.recording import Outcome, check_and_record, record_error, where_raised

log = logging.getLogger(__name__)
RETRYABLE = (IMAPClientError, OSError, sa.exc.OperationalError)  # abort < error; TLS/timeouts < OSError
BATCH_MESSAGES = 50
BATCH_BYTES = 20 * 1024 * 1024
CHECKPOINT_SECONDS = 1.0  # and at the end of every batch and on stop; a crash re-reads at most this


class Watcher:
    """Every configured account and folder, with one Checker and one Store."""

    def __init__(
        self,
        settings: WatchSettings,
        store: Store,
        checker: Checker,
        *,
        stop: threading.Event | None = None,
        idle_tick: float = 1.0,
        connect_timeout: float = 15,
        read_timeout: float = 60,
    ):
        self.settings = settings
        self.store = store
        self.checker = checker
        self.stop = stop or threading.Event()
        self.idle_tick = idle_tick
        self.timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
        self.max_bytes = int(settings.max_message_mb * 1024 * 1024)
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        for account in settings.accounts:  # fail now, not in a thread: secrets and actions
            account.check_secrets()
            if account.advisory_folder and not account.owner:
                raise ConfigError(f"watch.accounts[{account.name}]: advisory_folder needs owner")
            if account.advisory_folder in account.folders:
                raise ConfigError(f"watch.accounts[{account.name}]: the advisory folder must not be watched")
            if account.security == "none" and account.host not in ("127.0.0.1", "::1", "localhost"):
                log.warning(
                    "%s: security: none sends the password in clear; use tls or starttls", account.name
                )

    def count(self, what: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[what] += n

    def folders(self) -> Iterator[FolderWatch | GraphFolderWatch]:
        for account in self.settings.accounts:
            for folder in account.folders:
                if account.kind == "graph":
                    yield GraphFolderWatch(self, account, folder)
                else:
                    yield FolderWatch(self, account, folder)

    def run_once(self) -> bool:
        """Scan every folder once (one connection per account). False if any folder failed."""
        ok = True
        for account in self.settings.accounts:
            if account.kind == "graph":
                ok = self._graph_once(account) and ok
                continue
            client = None
            try:
                client = imap_actions.connect(account, **self.timeouts)
                for folder in account.folders:
                    try:
                        FolderWatch(self, account, folder).sync(client)
                    except IMAPClientError as exc:
                        if isinstance(exc, IMAPClientAbortError):
                            raise
                        ok = False  # e.g. no such folder: go on with the next one
                        log.error("%s/%s: scan failed: %s", account.name, folder, describe(exc))
            except RETRYABLE as exc:
                ok = False
                log.error("%s: scan failed: %s", account.name, describe(exc))
            finally:
                imap_actions.close(client)
        return ok

    def _graph_once(self, account: WatchAccount) -> bool:
        graph = GraphClient(account, self.stop)
        ok = True
        try:
            for folder in account.folders:
                try:
                    GraphFolderWatch(self, account, folder).sync(graph)
                except (GraphError, TokenError, sa.exc.OperationalError) as exc:
                    ok = False
                    log.error(
                        "%s/%s: scan failed: %s",
                        account.name,
                        folder,
                        describe(exc) if isinstance(exc, sa.exc.OperationalError) else exc,
                    )
        finally:
            graph.close()
        return ok

    def run(self) -> None:
        """Watch every folder until ``stop`` is set; returns once each has saved its checkpoint."""
        threads = [
            threading.Thread(target=fw.run_forever, name=f"watch:{fw.name}", daemon=True)
            for fw in self.folders()
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.5)


class FolderWatch:
    """One folder of one account: sync, then IDLE (or poll) and sync again, reconnecting forever."""

    def __init__(self, watcher: Watcher, account: WatchAccount, folder: str):
        self.w = watcher
        self.account = account
        self.folder = folder
        self.name = f"{account.name}/{folder}"
        self.readonly = account.keyword is None

    # -- the long-running loop ---------------------------------------------------------------
    def run_forever(self) -> None:
        attempt = 0
        stop = self.w.stop
        while not stop.is_set():
            client = None
            delay = 0.0
            try:
                client = imap_actions.connect(self.account, **self.w.timeouts)
                renew_at = self._token_renew_at()
                self.sync(client)
                if attempt:
                    log.warning("%s: connected again after %d failed attempt(s)", self.name, attempt)
                attempt = 0
                while not stop.is_set():
                    if renew_at is not None and time.monotonic() >= renew_at:
                        log.info("%s: OAuth2 token due for renewal: logging in again", self.name)
                        break  # a new connection with a fresh token, before the server ends this one
                    self.wait_for_change(client, renew_at)
                    self.sync(client)
            except Exception as exc:  # never ends the watch of this folder, whatever it was
                attempt += 1
                delay = backoff(attempt, self.w.settings.backoff_max_seconds)
                what = "login failed" if isinstance(exc, LoginError) else "connection lost or refused"
                detail = describe(exc)
                if isinstance(exc, TokenError):  # the endpoint's error, e.g. invalid_client: AADSTS...
                    what, detail = "no OAuth2 token", str(exc)
                elif not isinstance(exc, (*RETRYABLE, ConnectionError)):  # a bug: no message text in logs
                    what, detail = f"unexpected error at {where_raised(exc)}", type(exc).__name__
                log.warning(
                    "%s: %s (%s); reconnecting in %.1f s (attempt %d)",
                    self.name,
                    what,
                    detail,
                    delay,
                    attempt,
                )
            finally:
                imap_actions.close(client)
            if delay:
                stop.wait(delay)
        log.info("%s: stopped", self.name)

    def _token_renew_at(self) -> float | None:
        """When this connection's OAuth2 token is due for renewal (time.monotonic()); None: password."""
        if self.account.auth != "oauth2":
            return None
        from correspondence_guard.mailbox import oauth2

        return oauth2.provider_for(self.account).renew_at()

    def wait_for_change(self, client: IMAPClient, until: float | None = None) -> None:
        """IDLE until the folder changes, IDLE is due for renewal, ``until`` (the OAuth2 token's
        renewal, time.monotonic()) or stop; else poll."""
        stop, tick = self.w.stop, self.w.idle_tick
        if not client.has_capability("IDLE"):
            wait = float(self.w.settings.poll_seconds)
            if until is not None:
                wait = max(0.0, min(wait, until - time.monotonic()))
            if not stop.wait(wait):
                client.noop()
            return
        client.idle()
        started = time.monotonic()
        end = started + self.w.settings.idle_seconds
        end = min(end, until) if until is not None else end
        try:
            while not stop.is_set() and time.monotonic() < end:
                t0 = time.monotonic()
                responses = client.idle_check(timeout=tick)
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ConnectionError("the server said BYE")
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"EXPUNGE") for r in responses):
                    return
                if not responses and time.monotonic() - t0 < tick / 2:
                    return  # readable but empty: imapclient hides EOF; idle_done() will raise if so
        finally:
            client.idle_done()

    # -- one pass over the folder ---------------------------------------------------------------
    def sync(self, client: IMAPClient) -> None:
        """Process every message above the checkpoint, pass after pass, until a fresh SELECT
        shows nothing new. Ending on a SELECT (not a SEARCH or FETCH, whose trailing EXISTS
        imapclient keeps to itself) means anything later is announced when IDLE starts."""
        while not self.w.stop.is_set():
            status = client.select_folder(self.folder, readonly=self.readonly)
            uidvalidity = int(status[b"UIDVALIDITY"])
            top = int(status[b"UIDNEXT"]) - 1 if b"UIDNEXT" in status else None
            last = self._last_uid(uidvalidity)
            if top is not None and top <= last:
                return
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)  # n:* has the top
            if uids:
                log.info("%s: %d new message(s) after UID %d", self.name, len(uids), last)
            for i in range(0, len(uids), 200):
                if not self._process_chunk(client, uids[i : i + 200], uidvalidity):
                    return  # stopping
            if top is None and not uids:
                return
            if top is not None and top > (uids[-1] if uids else last):  # the highest were expunged
                self.w.store.save_checkpoint(self.account.name, self.folder, uidvalidity, top)

    def _last_uid(self, uidvalidity: int) -> int:
        """The checkpoint's last UID; 0 (rescan) for a new folder or a changed UIDVALIDITY."""
        saved = self.w.store.checkpoint(self.account.name, self.folder)
        if saved is not None and saved[0] == uidvalidity:
            return saved[1]
        if saved is None:
            log.info("%s: first scan (UIDVALIDITY %d)", self.name, uidvalidity)
        else:
            log.warning(
                "%s: UIDVALIDITY changed %d -> %d: rescanning the folder", self.name, saved[0], uidvalidity
            )
        self.w.store.save_checkpoint(self.account.name, self.folder, uidvalidity, 0)
        return 0

    def _process_chunk(self, client: IMAPClient, uids: list[int], uidvalidity: int) -> bool:
        sizes = {u: int(d.get(b"RFC822.SIZE", 0)) for u, d in client.fetch(uids, ["RFC822.SIZE"]).items()}
        batch: list[int] = []
        batch_bytes = 0
        for uid in uids:
            batch.append(uid)
            batch_bytes += min(sizes.get(uid, 0), self.w.max_bytes)
            if len(batch) >= BATCH_MESSAGES or batch_bytes >= BATCH_BYTES or uid == uids[-1]:
                if not self._process_batch(client, batch, sizes, uidvalidity):
                    return False
                batch, batch_bytes = [], 0
        return True

    def _process_batch(
        self, client: IMAPClient, uids: list[int], sizes: dict[int, int], uidvalidity: int
    ) -> bool:
        small = [u for u in uids if u in sizes and sizes[u] <= self.w.max_bytes]
        large = [u for u in uids if u in sizes and sizes[u] > self.w.max_bytes]
        bodies = dict(client.fetch(small, ["BODY.PEEK[]", "FLAGS"])) if small else {}
        heads = (
            {u: d.get(b"BODY[HEADER]") for u, d in client.fetch(large, ["BODY.PEEK[HEADER]"]).items()}
            if large
            else {}
        )
        store, done, saved_at = self.w.store, 0, time.monotonic()
        try:
            for uid in uids:
                if self.w.stop.is_set():
                    return False  # the message in hand is finished; the checkpoint is saved below
                location = Location(self.account.name, self.folder, uid, source=f"imap:{self.name}/{uid}")
                if uid in heads:
                    error = f"message is {sizes[uid]} bytes, over the {self.w.max_bytes}-byte limit"
                    self._after(client, uid, record_error(store, heads[uid] or b"", location, error))
                elif bodies.get(uid, {}).get(b"BODY[]") is not None:  # else expunged since the SEARCH
                    raw, draft = bytes(bodies[uid][b"BODY[]"]), b"\\Draft" in bodies[uid].get(b"FLAGS", ())
                    outcome = check_and_record(
                        store, self.w.checker, raw, location, source=location.source, draft=draft
                    )
                    self._after(client, uid, outcome)
                done = uid
                if time.monotonic() - saved_at >= CHECKPOINT_SECONDS:
                    store.save_checkpoint(self.account.name, self.folder, uidvalidity, done)
                    saved_at = time.monotonic()
            return True
        finally:  # also on stop or failure: every UID up to ``done`` was handled
            if done:
                store.save_checkpoint(self.account.name, self.folder, uidvalidity, done)

    def _after(self, client: IMAPClient, uid: int, outcome: Outcome) -> None:
        """Count, log (UID and key hash only) and run the account's actions on a flagged message."""
        w = self.w
        w.count("checked" if outcome.new else "seen")
        seen = "" if outcome.new else " (already recorded)"
        rules = ",".join(f.rule for f in outcome.report.findings) if outcome.report else ""
        log.info(  # -v: one line a message; the key is a hash, nothing of the message itself
            "%s: UID %d %s %s%s%s",
            self.name,
            uid,
            outcome.key_hash,
            outcome.verdict,
            f" {rules}" if rules else "",
            seen,
        )
        if outcome.error and outcome.new:
            w.count("errors")
            log.warning(
                "%s: UID %d (%s) recorded as an error: %s", self.name, uid, outcome.key_hash, outcome.error
            )
        if not outcome.flagged:
            return
        if outcome.new:
            w.count("flagged")
        try:
            for done in imap_actions.run_actions(client, self.account, self.name, uid, outcome, w.store):
                w.count(done)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:  # a NO/BAD to an action: log it, never loop on it
            log.warning("%s: UID %d: action refused by the server: %s", self.name, uid, describe(exc))
