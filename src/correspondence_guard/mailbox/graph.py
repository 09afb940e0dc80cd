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

Read-only: only GET requests, and only with ``Mail.Read`` (app-only, scope
``https://graph.microsoft.com/.default``; the same MSAL app as for IMAP). Logs name the account,
folder and Graph id; never subjects, addresses or bodies; never a token.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from correspondence_guard.config import WatchAccount
from correspondence_guard.errors import CorrespondenceGuardError
from correspondence_guard.mailbox.imap import backoff, describe
from correspondence_guard.mailbox.oauth2 import TokenError, http_session, provider_for
from correspondence_guard.store.db import Location, Store
from correspondence_guard.store.recording import check_and_record, record_error, where_raised

log = logging.getLogger(__name__)
PAGE_SIZE = 100  # Prefer: odata.maxpagesize (Graph's own default for messages is 10)
MAX_RETRY_AFTER = 300.0
MAX_ATTEMPTS = 6  # per request, for 429/503/5xx and network errors

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
        import requests

        renewed = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            headers = {"Authorization": f"Bearer {self.tokens.token()}", "Accept": accept}
            if prefer:
                headers["Prefer"] = prefer
            try:
                resp = self.http.get(url, headers=headers, timeout=self.timeout)
            except requests.exceptions.RequestException as exc:
                if attempt == MAX_ATTEMPTS:
                    raise GraphError(f"Graph {_short(url)} unreachable: {type(exc).__name__}") from None
                self._wait(backoff(attempt, 30))
                continue
            if resp.status_code < 300 or resp.status_code in (404, 410):
                return resp
            if resp.status_code == 401 and not renewed:
                self.tokens.invalidate()
                renewed = True
                continue
            if resp.status_code in (429, 503, 502, 504) and attempt < MAX_ATTEMPTS:
                self.throttled += 1
                self._wait(_retry_after(resp.headers.get("Retry-After"), attempt))
                continue
            raise GraphError(f"Graph {_short(url)}: HTTP {resp.status_code} {_graph_error(resp)}".rstrip())
        raise GraphError(f"Graph {_short(url)}: gave up after {MAX_ATTEMPTS} attempts")

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


class GraphFolderWatch:
    """One folder of one Graph account: delta rounds every ``poll_seconds``, reconnecting forever."""

    def __init__(self, watcher: Any, account: WatchAccount, folder: str):
        self.w = watcher
        self.account = account
        self.folder = folder
        self.name = f"{account.name}/{folder}"

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
            self._remember(item_id)
            w.count("checked" if outcome.new else "seen")
            if outcome.new and outcome.flagged:
                w.count("flagged")
            log.info(
                "%s: %s %s %s%s", self.name, item_id[-12:], outcome.key_hash, outcome.verdict,
                "" if outcome.new else " (already recorded)",
            )  # fmt: skip
        return True

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
                    if isinstance(exc, (TokenError, GraphError)):
                        what = str(exc)
                    elif isinstance(exc, sa.exc.OperationalError):
                        what = describe(exc)
                    else:
                        what = f"unexpected error at {where_raised(exc)}: {type(exc).__name__}"
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
