"""A local HTTPS stand-in for the parts of Microsoft Graph the Graph source uses, page by page.

Shapes as documented for Graph v1.0 (message: delta; get MIME content; throttling; errors):

* ``GET /v1.0/users/{mailbox}/mailFolders/{folder}/messages/delta``: ``{"value": [...],
  "@odata.nextLink": ...}`` pages of ``Prefer: odata.maxpagesize`` items (10 by default), the last
  with ``"@odata.deltaLink"``; a later round from a delta link returns the changes since, removed
  items as ``{"id": ..., "@removed": {"reason": "deleted"}}``. Tokens are opaque (``$skiptoken``,
  ``$deltatoken``); an expired one gives 410 ``SyncStateNotFound``.
* ``GET /v1.0/users/{mailbox}/messages/{id}/$value``: the MIME bytes; 404 ``ErrorItemNotFound``.
* ``GET /v1.0/users/{mailbox}/mailFolders/{folder}/messages?$filter=receivedDateTime ge A and
  receivedDateTime lt B&$top=N``: a listing with ``@odata.nextLink`` (``$skip``).
* 429 ``TooManyRequests`` with ``Retry-After`` for the next ``throttle`` requests; 401
  ``InvalidAuthenticationToken`` unless the bearer token is live at the test's OAuth2 server.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import ssl
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Item:
    id: str
    mime: bytes
    received: dt.datetime
    seq: int
    deleted_seq: int | None = None


@dataclass
class Folder:
    items: list[Item] = field(default_factory=list)


class GraphState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.folders: dict[tuple[str, str], Folder] = {}
        self.seq = 0
        self.tokens: dict[
            str, tuple[str, str, int, int, int]
        ] = {}  # token -> (mb, folder, base, high, offset)
        self.expired: set[str] = set()
        self.throttle = 0
        self.retry_after = "1"
        self.delete_when_listed: set[str] = set()  # deleted right after a delta page names them
        self.hits: Counter[str] = Counter()  # "delta", "value", "429", "410", "404", "list"

    def add(self, mailbox: str, folder: str, mime: bytes, received: dt.datetime | None = None) -> str:
        with self.lock:
            self.seq += 1
            item_id = "AAMkAG" + secrets.token_urlsafe(30)
            when = received or dt.datetime.now(dt.UTC)
            self.folders.setdefault((mailbox.lower(), folder), Folder()).items.append(
                Item(item_id, mime, when, self.seq)
            )
            return item_id

    def delete(self, item_id: str) -> None:
        with self.lock:
            self._delete(item_id)

    def _delete(self, item_id: str) -> None:
        for f in self.folders.values():
            for item in f.items:
                if item.id == item_id and item.deleted_seq is None:
                    self.seq += 1
                    item.deleted_seq = self.seq

    def expire_delta_links(self) -> None:
        with self.lock:
            self.expired.update(self.tokens)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body in one write (flushed after each request): no Nagle stall
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._raw(status, json.dumps(body).encode(), "application/json", headers)

    def _raw(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(
            status, {"error": {"code": code, "message": message, "innerError": {"request-id": "0"}}}, headers
        )

    def do_GET(self) -> None:  # noqa: N802
        st = self.server.state
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self.server.token_ok(token):
            self._error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
            return
        with st.lock:
            if st.throttle > 0:
                st.throttle -= 1
                st.hits["429"] += 1
                self._error(429, "TooManyRequests", "Too many requests", {"Retry-After": st.retry_after})
                return
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = [urllib.parse.unquote(p) for p in parts.path.strip("/").split("/")]
        if (
            len(path) == 7
            and path[:2] == ["v1.0", "users"]
            and path[3] == "mailFolders"
            and path[5:] == ["messages", "delta"]
        ):
            self._delta(path[2].lower(), path[4], query)
        elif (
            len(path) == 6
            and path[:2] == ["v1.0", "users"]
            and path[3] == "mailFolders"
            and path[5] == "messages"
        ):
            self._list(path[2].lower(), path[4], query)
        elif (
            len(path) == 6 and path[:2] == ["v1.0", "users"] and path[3] == "messages" and path[5] == "$value"
        ):
            self._value(path[4])
        else:
            self._error(400, "BadRequest", "Resource not found for the segment.")

    def _page_size(self) -> int:
        m = re.search(r"odata\.maxpagesize=(\d+)", self.headers.get("Prefer", ""))
        return int(m.group(1)) if m else 10

    def _delta(self, mailbox: str, folder: str, query: dict[str, str]) -> None:
        st = self.server.state
        base_url = f"https://127.0.0.1:{self.server.server_address[1]}/v1.0/users/{mailbox}/mailFolders/{folder}/messages/delta"
        with st.lock:
            st.hits["delta"] += 1
            token = query.get("$skiptoken") or query.get("$deltatoken")
            if token:
                if token in st.expired or token not in st.tokens:
                    st.hits["410"] += 1
                    self._error(410, "SyncStateNotFound", "The sync state generation is not found.")
                    return
                _, _, base, high, offset = st.tokens[token]
                if "$deltatoken" in query:  # a new round: the changes since that delta, up to now
                    base, high, offset = high, st.seq, 0
            else:
                base, high, offset = 0, st.seq, 0
            items = st.folders.get((mailbox, folder), Folder()).items
            changes: list[dict[str, Any]] = []
            for item in items:
                if base < item.seq <= high and (item.deleted_seq is None or item.deleted_seq > high):
                    changes.append({"@odata.type": "#microsoft.graph.message", "id": item.id,
                                    "receivedDateTime": item.received.strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
                elif base and item.seq <= base and item.deleted_seq and base < item.deleted_seq <= high:
                    changes.append({"id": item.id, "@removed": {"reason": "deleted"}})
            page = changes[offset : offset + self._page_size()]
            body: dict[str, Any] = {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
                "value": page,
            }
            new = secrets.token_urlsafe(24)
            if offset + len(page) < len(changes):
                st.tokens[new] = (mailbox, folder, base, high, offset + len(page))
                body["@odata.nextLink"] = f"{base_url}?$skiptoken={new}"
            else:
                st.tokens[new] = (mailbox, folder, high, high, 0)
                body["@odata.deltaLink"] = f"{base_url}?$deltatoken={new}"
            for entry in page:
                if entry["id"] in st.delete_when_listed:
                    st._delete(entry["id"])
        self._json(200, body)

    def _list(self, mailbox: str, folder: str, query: dict[str, str]) -> None:
        st = self.server.state
        m = re.fullmatch(r"receivedDateTime ge (\S+) and receivedDateTime lt (\S+)", query.get("$filter", ""))
        if not m:
            self._error(400, "BadRequest", "Invalid filter clause")
            return
        lo, hi = (dt.datetime.fromisoformat(x.replace("Z", "+00:00")) for x in m.groups())
        top, skip = int(query.get("$top", "10")), int(query.get("$skip", "0"))
        with st.lock:
            st.hits["list"] += 1
            found = sorted(
                (
                    i
                    for i in st.folders.get((mailbox, folder), Folder()).items
                    if i.deleted_seq is None and lo <= i.received < hi
                ),
                key=lambda i: i.received,
            )
        page = found[skip : skip + top]
        body: dict[str, Any] = {
            "value": [
                {"id": i.id, "receivedDateTime": i.received.strftime("%Y-%m-%dT%H:%M:%SZ")} for i in page
            ]
        }
        if skip + top < len(found):
            q = dict(query, **{"$skip": str(skip + top)})
            body["@odata.nextLink"] = (
                f"https://127.0.0.1:{self.server.server_address[1]}/v1.0/users/{mailbox}/mailFolders/{folder}/messages?"
                + urllib.parse.urlencode(q)
            )
        self._json(200, body)

    def _value(self, item_id: str) -> None:
        st = self.server.state
        with st.lock:
            st.hits["value"] += 1
            item = next((i for f in st.folders.values() for i in f.items if i.id == item_id), None)
            if item is None or item.deleted_seq is not None:
                st.hits["404"] += 1
                item = None
        if item is None:
            self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        else:
            self._raw(200, item.mime, "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GraphState, context: ssl.SSLContext, token_ok: Any):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.token_ok = token_ok
        self.socket = context.wrap_socket(self.socket, server_side=True)


class GraphServer:
    """The stand-in on loopback; ``url`` is the ``graph_url`` of an account."""

    def __init__(self, cert: Path, key: Path, token_ok: Any):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.state = GraphState()
        self._server = _Server(self.state, context, token_ok)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/v1.0"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
