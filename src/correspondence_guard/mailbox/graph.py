"""Microsoft Graph as a mailbox source (``kind: graph``), for tenants where IMAP is switched off.

Per watched folder, the watcher runs a ``messages/delta`` query of the mail folder
(``/users/{mailbox}/mailFolders/{folder}/messages/delta``), page by page
(``@odata.nextLink``) to the end (``@odata.deltaLink``), and reads each new message as MIME
(``/users/{mailbox}/messages/{id}/$value``), so the same intake and checks run as for IMAP.

Checkpoint: after each page is handled, the link to go on from (the next page's, then the
delta link) is saved in the store (table ``graph_checkpoints``), the way IMAP keeps UIDVALIDITY
and UID; the Graph ids already recorded are kept too (``graph_items``), so a restart in the
middle of a page, or a full resync, fetches and records none of them again. A delta link the
server no longer knows (410 Gone) starts a full resync of the folder. 429 and 503 are retried
after ``Retry-After`` seconds; a message deleted between the delta and the fetch (404) is
skipped. A 401 drops the cached token and tries once with a new one.

Read-only by default: only GET requests, and only ``Mail.Read`` is needed (app-only, scope
``https://graph.microsoft.com/.default``; the same MSAL app as for IMAP). The account's two
optional actions need ``Mail.ReadWrite`` and run only when configured, on flagged messages:

* ``keyword``: an Outlook category, added to the message's categories (read first, kept) with
  ``PATCH /users/{mailbox}/messages/{id}``; nothing when it is already there;
* ``advisory_folder``: the IMAP advisory's subject and text, created as a message in that
  folder (``POST /users/{mailbox}/mailFolders/{id}/messages``), the folder found by display
  name; once per Message-ID, as for IMAP (``Outcome.new`` and ``flagged_before``).

The actions run after the message is recorded and before its Graph id is remembered, so a
restart neither repeats nor (short of a crash in between) misses one. A failed action is one
warning line; the watch goes on. Logs name the account, folder and Graph id; never subjects,
addresses or bodies; never a token.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import functools
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from correspondence_guard.config import WatchAccount
from correspondence_guard.errors import CorrespondenceGuardError
from correspondence_guard.findings import Report
from correspondence_guard.mailbox.imap import ADVISORY_HEADER, advisory_message, backoff, describe
from correspondence_guard.mailbox.oauth2 import TokenError, http_session, provider_for
from correspondence_guard.store.db import Location, Store
from correspondence_guard.store.recording import (
    Outcome,
    check_and_record,
    flagged_before,
    record_error,
    where_raised,
)

log = logging.getLogger(__name__)
PAGE_SIZE = 100  # Prefer: odata.maxpagesize (Graph's own default for messages is 10)
MAX_RETRY_AFTER = 300.0
MAX_ATTEMPTS = 6  # per request, for 429/503/5xx and network errors
FOLDER_RECHECK_SECONDS = 300.0  # a missing advisory folder is looked for again after this

_meta = sa.MetaData()
graph_checkpoints = sa.Table(
    "graph_checkpoints",
    _meta,
    sa.Column("account", sa.String(200), primary_key=True),
    sa.Column("folder", sa.String(500), primary_key=True),
    sa.Column("link", sa.Text, nullable=False),  # the nextLink or deltaLink to go on from
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
graph_items = sa.Table(
    "graph_items",
    _meta,
    sa.Column("account", sa.String(200), primary_key=True),
    sa.Column("folder", sa.String(500), primary_key=True),
    sa.Column("item_id", sa.String(400), primary_key=True),
)
_created: set[int] = set()
_created_lock = threading.Lock()
_missing_reported: set[tuple[str, str]] = set()  # (account, advisory folder) logged as missing
_missing_lock = threading.Lock()


class GraphError(CorrespondenceGuardError):
    """Graph refused a request or could not be reached (one line, no token)."""


class DeltaExpiredError(GraphError):
    """410 Gone: the delta link is no longer known; the folder must be read again in full."""


def _tables(store: Store) -> None:
    with _created_lock:
        if id(store.engine) not in _created:
            _meta.create_all(store.engine, checkfirst=True)
            _created.add(id(store.engine))


class GraphClient:
    """GET requests to Graph for one account, with its app-only token, retries and throttling."""

    def __init__(self, account: WatchAccount, stop: threading.Event | None = None, timeout: float = 60):
        self.account = account
        self.base = account.graph_url.rstrip("/")
        self.mailbox = urllib.parse.quote(account.username, safe="@")
        self.tokens = provider_for(account, graph=True)
        self.http = http_session(account.ca_file)
        self.stop = stop or threading.Event()
        self.timeout = timeout
        self.throttled = 0  # 429/503 answers waited out

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, *, accept: str = "application/json", prefer: str | None = None) -> Any:
        """The response to GET ``url`` (2xx or 404/410); GraphError otherwise."""
        return self.request("GET", url, accept=accept, prefer=prefer)

    def request(
        self,
        method: str,
        url: str,
        *,
        accept: str = "application/json",
        prefer: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """The response to ``method url`` (2xx or 404/410); GraphError otherwise. 429 and 503 are
        waited out (``Retry-After``); a POST is not repeated after a network error or another 5xx,
        when Graph may have acted on it (one advisory, never two)."""
        import requests

        repeatable = method != "POST"
        what = _short(url) if method == "GET" else f"{method} {_short(url)}"
        renewed = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            headers = {"Authorization": f"Bearer {self.tokens.token()}", "Accept": accept}
            if prefer:
                headers["Prefer"] = prefer
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                resp = self.http.request(method, url, headers=headers, json=body, timeout=self.timeout)
            except requests.exceptions.RequestException as exc:
                if attempt == MAX_ATTEMPTS or not repeatable:
                    raise GraphError(f"Graph {what} unreachable: {type(exc).__name__}") from None
                self._wait(backoff(attempt, 30))
                continue
            if resp.status_code < 300 or resp.status_code in (404, 410):
                return resp
            if resp.status_code == 401 and not renewed:
                self.tokens.invalidate()
                renewed = True
                continue
            retry = (429, 503) if not repeatable else (429, 503, 502, 504)
            if resp.status_code in retry and attempt < MAX_ATTEMPTS:
                self.throttled += 1
                self._wait(_retry_after(resp.headers.get("Retry-After"), attempt))
                continue
            raise GraphError(f"Graph {what}: HTTP {resp.status_code} {_graph_error(resp)}".rstrip())
        raise GraphError(f"Graph {what}: gave up after {MAX_ATTEMPTS} attempts")

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise GraphError("stopping")

    def delta_url(self, folder: str) -> str:
        f = urllib.parse.quote(folder, safe="")
        return f"{self.base}/users/{self.mailbox}/mailFolders/{f}/messages/delta?$select=id,receivedDateTime"

    def delta_page(self, url: str) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """(items, nextLink, deltaLink) of one page; DeltaExpiredError on 410."""
        resp = self.get(url, prefer=f"odata.maxpagesize={PAGE_SIZE}")
        if resp.status_code == 410:
            raise DeltaExpiredError(f"Graph delta link expired: {_graph_error(resp)}")
        if resp.status_code == 404:
            raise GraphError(f"Graph {_short(url)}: HTTP 404 {_graph_error(resp)}".rstrip())
        try:
            data = resp.json()
            items = [i for i in data.get("value", []) if isinstance(i, dict)]
        except (ValueError, AttributeError):
            raise GraphError(f"Graph {_short(url)}: the reply is not a delta page") from None
        return items, data.get("@odata.nextLink"), data.get("@odata.deltaLink")

    def mime(self, item_id: str) -> bytes | None:
        """The message as MIME, or None if it is gone (deleted since the delta)."""
        url = f"{self.base}/users/{self.mailbox}/messages/{urllib.parse.quote(item_id, safe='')}/$value"
        resp = self.get(url, accept="*/*")
        return None if resp.status_code in (404, 410) else bytes(resp.content)

    def _message_url(self, item_id: str) -> str:
        return f"{self.base}/users/{self.mailbox}/messages/{urllib.parse.quote(item_id, safe='')}"

    def add_category(self, item_id: str, category: str) -> bool | None:
        """Add ``category`` to the message's Outlook categories, keeping the others. True if
        added, False if it was there already, None if the message is gone."""
        resp = self.get(f"{self._message_url(item_id)}?$select=categories")
        if resp.status_code in (404, 410):
            return None
        try:
            current = [str(c) for c in resp.json().get("categories") or []]
        except (ValueError, AttributeError, TypeError):
            raise GraphError("Graph: the reply to a message's categories is not a message") from None
        if any(c.casefold() == category.casefold() for c in current):
            return False
        resp = self.request("PATCH", self._message_url(item_id), body={"categories": [*current, category]})
        return None if resp.status_code in (404, 410) else True

    def folder_id(self, name: str) -> str | None:
        """The id of the mail folder with display name ``name`` (a top-level folder), or None."""
        flt = "displayName eq '" + name.replace("'", "''") + "'"
        query = urllib.parse.urlencode(
            {"$filter": flt, "$select": "id,displayName"}, quote_via=urllib.parse.quote
        )
        url = f"{self.base}/users/{self.mailbox}/mailFolders?{query}"
        resp = self.get(url)
        if resp.status_code >= 300:
            raise GraphError(f"Graph {_short(url)}: HTTP {resp.status_code} {_graph_error(resp)}".rstrip())
        try:
            found = [f for f in resp.json().get("value", []) if isinstance(f, dict) and f.get("id")]
        except (ValueError, AttributeError):
            raise GraphError(f"Graph {_short(url)}: the reply is not a folder list") from None
        exact = [f for f in found if f.get("displayName") == name] or found
        return str(exact[0]["id"]) if exact else None

    def create_message(self, folder_id: str, message: dict[str, Any]) -> str:
        """Create ``message`` (Graph's message resource) in the folder; its id."""
        f = urllib.parse.quote(folder_id, safe="")
        url = f"{self.base}/users/{self.mailbox}/mailFolders/{f}/messages"
        resp = self.request("POST", url, body=message)
        if resp.status_code >= 300:
            raise GraphError(
                f"Graph POST {_short(url)}: HTTP {resp.status_code} {_graph_error(resp)}".rstrip()
            )
        try:
            return str(resp.json().get("id", ""))
        except (ValueError, AttributeError):
            return ""

    def list_messages(self, folder: str, since: dt.datetime, until: dt.datetime) -> Iterator[dict[str, Any]]:
        """Messages received in [since, until) (the review), oldest first, page by page."""
        f = urllib.parse.quote(folder, safe="")
        flt = f"receivedDateTime ge {_iso(since)} and receivedDateTime lt {_iso(until)}"
        query = urllib.parse.urlencode(
            {"$select": "id,receivedDateTime", "$filter": flt, "$orderby": "receivedDateTime", "$top": "100"}
        )
        url: str | None = f"{self.base}/users/{self.mailbox}/mailFolders/{f}/messages?{query}"
        while url:
            resp = self.get(url)
            if resp.status_code >= 300:
                raise GraphError(
                    f"Graph {_short(url)}: HTTP {resp.status_code} {_graph_error(resp)}".rstrip()
                )
            data = resp.json()
            yield from (i for i in data.get("value", []) if isinstance(i, dict))
            url = data.get("@odata.nextLink")


def advisory_resource(owner: str, subject: str, report: Report, where: str) -> dict[str, Any]:
    """The IMAP advisory (same subject and text) as a Graph message resource, to ``owner``."""
    mime = email.message_from_bytes(
        advisory_message(owner, subject, report, where), policy=email.policy.default
    )
    text = mime.get_content() if isinstance(mime, email.message.EmailMessage) else ""
    return {
        "subject": str(mime["Subject"]),
        "body": {"contentType": "text", "content": text},
        "toRecipients": [{"emailAddress": {"address": owner}}],
        "internetMessageHeaders": [{"name": ADVISORY_HEADER, "value": "advisory"}],
    }


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(url: str) -> str:
    """A URL for a log line: the path only (delta links carry an opaque token in the query)."""
    parts = urllib.parse.urlsplit(url)
    return parts.path


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return max(0.0, min(MAX_RETRY_AFTER, float(value))) if value else backoff(attempt, 60)
    except ValueError:
        return backoff(attempt, 60)


def _graph_error(resp: Any) -> str:
    try:
        err = resp.json().get("error", {})
        code, msg = err.get("code", ""), str(err.get("message", "")).splitlines()
        return f"{code}: {msg[0][:200]}" if msg else str(code)
    except Exception:
        return ""


def _explain(exc: Exception, database_errors: type[Exception]) -> str:
    """One line for a log: Graph's and the token's own messages, a store error described,
    anything else by where it was raised."""
    if isinstance(exc, (TokenError, GraphError)):
        return str(exc)
    if isinstance(exc, database_errors):
        return describe(exc)
    return f"unexpected error at {where_raised(exc)}: {type(exc).__name__}"


class GraphFolderWatch:
    """One folder of one Graph account: delta rounds every ``poll_seconds``, reconnecting forever."""

    def __init__(self, watcher: Any, account: WatchAccount, folder: str):
        self.w = watcher
        self.account = account
        self.folder = folder
        self.name = f"{account.name}/{folder}"
        self._advisory_folder: tuple[str | None, float] | None = None  # (id or None, when looked up)

    # -- the store -----------------------------------------------------------------------
    def _link(self) -> str | None:
        with self.w.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(graph_checkpoints.c.link).where(
                    graph_checkpoints.c.account == self.account.name,
                    graph_checkpoints.c.folder == self.folder,
                )
            ).first()
        return None if row is None else str(row[0])

    def _save_link(self, link: str | None) -> None:
        c = graph_checkpoints.c
        where = (c.account == self.account.name, c.folder == self.folder)
        with self.w.store.engine.begin() as conn:
            conn.execute(sa.delete(graph_checkpoints).where(*where))
            if link:
                conn.execute(
                    graph_checkpoints.insert().values(
                        account=self.account.name,
                        folder=self.folder,
                        link=link,
                        updated_at=dt.datetime.now(dt.UTC),
                    )
                )

    def _known(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        c = graph_items.c
        with self.w.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.item_id).where(
                    c.account == self.account.name, c.folder == self.folder, c.item_id.in_(ids)
                )
            )
            return {str(r[0]) for r in rows}

    def _remember(self, item_id: str) -> None:
        with self.w.store.engine.begin() as conn:
            conn.execute(
                graph_items.insert().values(account=self.account.name, folder=self.folder, item_id=item_id)
            )

    # -- one delta round -------------------------------------------------------------------
    def sync(self, client: GraphClient) -> None:
        """From the checkpoint to the end of the delta (a new delta link), page by page."""
        _tables(self.w.store)
        url = self._link()
        if url is None:
            log.info("%s: first scan", self.name)
            url = client.delta_url(self.folder)
        while url and not self.w.stop.is_set():
            try:
                items, next_link, delta_link = client.delta_page(url)
            except DeltaExpiredError as exc:
                log.warning("%s: %s: reading the folder again in full", self.name, exc)
                self._save_link(None)
                url = client.delta_url(self.folder)
                continue
            if not self._handle(client, items):
                return  # stopping: the page is read again next time; what was recorded is skipped
            url = next_link or delta_link
            self._save_link(url)
            if delta_link:
                return

    def _handle(self, client: GraphClient, items: list[dict[str, Any]]) -> bool:
        live = [str(i["id"]) for i in items if "id" in i and "@removed" not in i]
        known = self._known(live)
        store, w = self.w.store, self.w
        for item_id in live:
            if w.stop.is_set():
                return False
            if item_id in known:
                continue
            raw = client.mime(item_id)
            if raw is None:
                log.info("%s: %s deleted before it could be read", self.name, item_id[-12:])
                w.count("gone")
                continue
            location = Location(self.account.name, self.folder, None, source=f"graph:{self.name}/{item_id}")
            if len(raw) > w.max_bytes:
                error = f"message is {len(raw)} bytes, over the {w.max_bytes}-byte limit"
                outcome = record_error(store, raw[:65536], location, error)
            else:
                outcome = check_and_record(store, w.checker, raw, location, source=location.source)
            w.count("checked" if outcome.new else "seen")
            if outcome.new and outcome.flagged:
                w.count("flagged")
            log.info(
                "%s: %s %s %s%s", self.name, item_id[-12:], outcome.key_hash, outcome.verdict,
                "" if outcome.new else " (already recorded)",
            )  # fmt: skip
            if outcome.flagged and (self.account.keyword or self.account.advisory_folder):
                self._actions(client, item_id, outcome)
            self._remember(item_id)  # after the actions: a restart repeats none (both check first)
        return True

    # -- the optional actions (Mail.ReadWrite) ---------------------------------------------------
    def _actions(self, client: GraphClient, item_id: str, outcome: Outcome) -> None:
        """The account's keyword (an Outlook category) and advisory for a flagged message; a
        failure is one warning line and the watch goes on."""
        account, w, short = self.account, self.w, item_id[-12:]
        if account.keyword:
            try:
                added = client.add_category(item_id, account.keyword)
                if added:
                    w.count("keywords")
                elif added is None:
                    log.info("%s: %s deleted before its category could be set", self.name, short)
            except Exception as exc:
                self._action_failed(f"category {account.keyword!r} not set", short, exc)
        report, message = outcome.report, outcome.message
        if not (account.advisory_folder and account.owner and outcome.new and report and message):
            return
        if flagged_before(w.store, message.message_id, outcome.key):
            return
        try:
            folder_id = self._advisory_folder_id(client, account.advisory_folder)
            if folder_id is None:
                return
            where = f"{self.name} (Graph message {short})"
            client.create_message(folder_id, advisory_resource(account.owner, message.subject, report, where))
            w.count("advisories")
        except Exception as exc:
            self._action_failed("advisory not created", short, exc)

    def _advisory_folder_id(self, client: GraphClient, name: str) -> str | None:
        """The advisory folder's id; None (said once, in one line) while it does not exist."""
        cached = self._advisory_folder
        if cached is not None and (cached[0] or time.monotonic() - cached[1] < FOLDER_RECHECK_SECONDS):
            return cached[0]
        folder_id = client.folder_id(name)
        self._advisory_folder = (folder_id, time.monotonic())
        key = (self.account.name, name)
        with _missing_lock:
            if folder_id is None and key not in _missing_reported:
                _missing_reported.add(key)
                log.warning(
                    "%s: advisory folder %r does not exist in the mailbox (looked up by display name, "
                    "top level): no advisories are created until it does",
                    self.name,
                    name,
                )
            elif folder_id is not None:
                _missing_reported.discard(key)
        return folder_id

    def _action_failed(self, what: str, short: str, exc: Exception) -> None:
        if self.w.stop.is_set():
            return
        log.warning("%s: %s: %s: %s", self.name, short, what, _explain(exc, sa.exc.SQLAlchemyError))

    # -- the long-running loop ---------------------------------------------------------------
    def run_forever(self) -> None:
        attempt = 0
        stop = self.w.stop
        client = GraphClient(self.account, stop)
        try:
            while not stop.is_set():
                try:
                    self.sync(client)
                    if attempt:
                        log.warning(
                            "%s: Graph reachable again after %d failed attempt(s)", self.name, attempt
                        )
                    attempt = 0
                    delay = float(self.w.settings.poll_seconds)
                except Exception as exc:  # never ends the watch of this folder
                    if stop.is_set():
                        break
                    attempt += 1
                    delay = backoff(attempt, self.w.settings.backoff_max_seconds)
                    what = _explain(exc, sa.exc.OperationalError)
                    log.warning(
                        "%s: %s; trying again in %.1f s (attempt %d)", self.name, what, delay, attempt
                    )
                stop.wait(delay)
        finally:
            client.close()
        log.info("%s: stopped", self.name)


@contextmanager
def review_entries(source: Any, config: Any, since: dt.datetime, until: dt.datetime) -> Iterator[list[Any]]:
    """The review's entries of a Graph folder dated in [since, until), oldest first (as for IMAP:
    listed by arrival a day wider each side, then narrowed by the Date header; MIME read lazily)."""
    from correspondence_guard.config import ConfigError
    from correspondence_guard.review.sources import Entry, header_date, utc

    account = next((a for a in config.watch.accounts if a.name == source.account), None)
    if account is None or account.kind != "graph":
        raise ConfigError(
            f"graph:{source.account}: no watch.accounts entry of kind graph named {source.account!r}"
        )
    folder = source.folder or "Inbox"
    max_bytes = int(config.watch.max_message_mb * 1024 * 1024)
    client = GraphClient(account)
    day = dt.timedelta(days=1)
    try:
        found: list[tuple[dt.datetime, str, bytes]] = []
        for item in client.list_messages(folder, since - day, until + day):
            raw = client.mime(str(item["id"]))
            if raw is None:
                continue
            received = item.get("receivedDateTime")
            arrived = utc(dt.datetime.fromisoformat(received.replace("Z", "+00:00"))) if received else None
            date = header_date(raw[:65536]) or arrived
            if date is not None and since <= date < until:
                found.append((date, str(item["id"]), raw if len(raw) <= max_bytes else raw[:65536]))
        found.sort(key=lambda f: f[0])
        yield [
            Entry(
                f"graph:{account.name}/{folder}/{item_id}",
                date,
                Location(account.name, folder, None, source=f"graph:{account.name}/{folder}/{item_id}"),
                functools.partial(bytes, raw),
            )
            for date, item_id, raw in found
        ]
    except (GraphError, TokenError) as exc:
        raise ConfigError(f"graph:{account.name}/{folder}: {exc}") from None
    finally:
        client.close()
