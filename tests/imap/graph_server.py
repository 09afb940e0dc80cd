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
* ``GET /v1.0/users/{mailbox}/messages/{id}?$select=categories``: ``{"id": ..., "categories": [...]}``.
* ``PATCH /v1.0/users/{mailbox}/messages/{id}`` (update message) with a JSON body of writable
  properties (here ``categories``: a list of strings, replacing the old list): 200 and the
  message; the message then shows in the next delta round as updated.
* ``GET /v1.0/users/{mailbox}/mailFolders?$filter=displayName eq 'Name'``: ``{"value": [mailFolder]}``
  (top-level folders; ``''`` escapes a quote).
* ``POST /v1.0/users/{mailbox}/mailFolders/{id}/messages`` (create message in a folder) with a
  JSON message resource: 201 and the message (``isDraft: true``); 404 ``ErrorItemNotFound``
  for an unknown folder id.
* 429 ``TooManyRequests`` with ``Retry-After`` for the next ``throttle`` requests (any method); 401
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
    changed_seq: int | None = None  # updated (e.g. its categories) after it was created
    categories: list[str] = field(default_factory=list)
    resource: dict[str, Any] | None = None  # a message created by POST (JSON, not MIME)


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
        self.throttle_method: str | None = None  # throttle only this method's requests (else all)
        self.refuse: set[str] = set()  # methods answered 403 ErrorAccessDenied (no Mail.ReadWrite)
        self.retry_after = "1"
        self.delete_when_listed: set[str] = set()  # deleted right after a delta page names them
        self.hits: Counter[str] = Counter()  # "delta", "value", "429", "410", "404", "list", "patch", ...
        self.folder_ids: dict[tuple[str, str], str] = {}  # (mailbox, displayName) -> folder id

    def make_folder(self, mailbox: str, name: str) -> str:
        """A top-level mail folder ``name`` (found by displayName); its id, which keys its messages."""
        with self.lock:
            return self.folder_ids.setdefault(
                (mailbox.lower(), name), "AAMkAGfolder" + secrets.token_urlsafe(16)
            )

    def messages(self, mailbox: str, folder: str) -> list[Item]:
        """The live messages of a folder (by name for a made folder, else as given), oldest first."""
        with self.lock:
            key = (mailbox.lower(), self.folder_ids.get((mailbox.lower(), folder), folder))
            return [i for i in self.folders.get(key, Folder()).items if i.deleted_seq is None]

    def find(self, item_id: str) -> Item | None:
        return next(
            (i for f in self.folders.values() for i in f.items if i.id == item_id and i.deleted_seq is None),
            None,
        )

    def add(
        self,
        mailbox: str,
        folder: str,
        mime: bytes,
        received: dt.datetime | None = None,
        categories: list[str] | None = None,
    ) -> str:
        with self.lock:
            self.seq += 1
            item_id = "AAMkAG" + secrets.token_urlsafe(30)
            when = received or dt.datetime.now(dt.UTC)
            self.folders.setdefault((mailbox.lower(), folder), Folder()).items.append(
                Item(item_id, mime, when, self.seq, categories=list(categories or []))
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

    def _gate(self) -> bool:
        """The bearer token and throttling, as for every Graph request; False if answered already."""
        st = self.server.state
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self.server.token_ok(token):
            self._drain()
            self._error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
            return False
        with st.lock:
            if self.command in st.refuse:
                self._drain()
                self._error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
                return False
            if st.throttle > 0 and st.throttle_method in (None, self.command):
                st.throttle -= 1
                st.hits["429"] += 1
                self._drain()
                self._error(429, "TooManyRequests", "Too many requests", {"Retry-After": st.retry_after})
                return False
        return True

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _path(self) -> tuple[list[str], dict[str, str]]:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        return [urllib.parse.unquote(p) for p in parts.path.strip("/").split("/")], query

    def _body(self) -> dict[str, Any] | None:
        """The JSON request body (Content-Type: application/json), or None after a 400."""
        raw = self._drain()
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._error(415, "UnsupportedMediaType", "Content-Type must be application/json")
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._error(400, "BadRequest", "Unable to read JSON request payload.")
            return None
        return body

    def do_GET(self) -> None:  # noqa: N802
        if not self._gate():
            return
        path, query = self._path()
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
        elif len(path) == 5 and path[:2] == ["v1.0", "users"] and path[3] == "messages":
            self._message(path[4], query)
        elif len(path) == 4 and path[:2] == ["v1.0", "users"] and path[3] == "mailFolders":
            self._folders(path[2].lower(), query)
        else:
            self._error(400, "BadRequest", "Resource not found for the segment.")

    def do_PATCH(self) -> None:  # noqa: N802
        if not self._gate():
            return
        path, _ = self._path()
        if not (len(path) == 5 and path[:2] == ["v1.0", "users"] and path[3] == "messages"):
            self._drain()
            self._error(400, "BadRequest", "Resource not found for the segment.")
            return
        body = self._body()
        if body is None:
            return
        unknown = set(body) - {"categories"}
        cats = body.get("categories")
        if unknown or not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            self._error(
                400, "ErrorInvalidRequest", "The request is not valid: only categories may change here."
            )
            return
        st = self.server.state
        with st.lock:
            st.hits["patch"] += 1
            item = st.find(path[4])
            if item is not None:
                item.categories = list(cats)
                st.seq += 1
                item.changed_seq = st.seq
                resource = self._resource(item)
        if item is None:
            self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        else:
            self._json(200, resource)

    def do_POST(self) -> None:  # noqa: N802
        if not self._gate():
            return
        path, _ = self._path()
        if not (
            len(path) == 6
            and path[:2] == ["v1.0", "users"]
            and path[3] == "mailFolders"
            and path[5] == "messages"
        ):
            self._drain()
            self._error(400, "BadRequest", "Resource not found for the segment.")
            return
        body = self._body()
        if body is None:
            return
        mailbox, folder_id = path[2].lower(), path[4]
        subject, content = body.get("subject"), body.get("body")
        if (
            not isinstance(subject, str)
            or not isinstance(content, dict)
            or content.get("contentType") not in ("text", "html")
            or not isinstance(content.get("content"), str)
        ):
            self._error(400, "ErrorInvalidRequest", "The message resource is not valid.")
            return
        headers = body.get("internetMessageHeaders", [])
        if any(not str(h.get("name", "")).lower().startswith("x-") for h in headers):
            self._error(
                400, "InvalidInternetMessageHeader", "Only custom headers starting with x- may be set."
            )
            return
        st = self.server.state
        with st.lock:
            st.hits["post"] += 1
            if folder_id not in {v for (mb, _), v in st.folder_ids.items() if mb == mailbox}:
                self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
                return
            st.seq += 1
            item = Item("AAMkAG" + secrets.token_urlsafe(30), b"", dt.datetime.now(dt.UTC), st.seq)
            item.categories = [str(c) for c in body.get("categories", [])]
            item.resource = dict(body, isDraft=True, parentFolderId=folder_id)
            st.folders.setdefault((mailbox, folder_id), Folder()).items.append(item)
            resource = self._resource(item)
        self._json(201, resource)

    def _resource(self, item: Item) -> dict[str, Any]:
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/messages/$entity",
            "@odata.etag": f'W/"{item.changed_seq or item.seq}"',
            **(item.resource or {}),
            "id": item.id,
            "receivedDateTime": item.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "categories": list(item.categories),
        }

    def _message(self, item_id: str, query: dict[str, str]) -> None:
        st = self.server.state
        with st.lock:
            st.hits["get"] += 1
            item = st.find(item_id)
            resource = self._resource(item) if item is not None else None
        if resource is None:
            self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            return
        if "$select" in query:
            keep = {"id", *query["$select"].split(",")}
            resource = {k: v for k, v in resource.items() if k in keep or k.startswith("@odata")}
        self._json(200, resource)

    def _folders(self, mailbox: str, query: dict[str, str]) -> None:
        st = self.server.state
        m = re.fullmatch(r"displayName eq '((?:[^']|'')*)'", query.get("$filter", ""))
        if "$filter" in query and not m:
            self._error(400, "BadRequest", "Invalid filter clause")
            return
        with st.lock:
            st.hits["folders"] += 1
            folders = [(name, fid) for (mb, name), fid in st.folder_ids.items() if mb == mailbox]
        if m:
            wanted = m.group(1).replace("''", "'").casefold()
            folders = [(name, fid) for name, fid in folders if name.casefold() == wanted]
        value = [
            {"id": fid, "displayName": name, "parentFolderId": "AAMkAGroot", "childFolderCount": 0,
             "unreadItemCount": 0, "totalItemCount": 0, "isHidden": False}
            for name, fid in folders
        ]  # fmt: skip
        self._json(
            200,
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/mailFolders",
                "value": value,
            },
        )

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
                changed = (  # updated since the last round (created before it): listed again
                    item.changed_seq is not None and item.seq <= base < item.changed_seq <= high
                )
                if (base < item.seq <= high or changed) and (
                    item.deleted_seq is None or item.deleted_seq > high
                ):
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
