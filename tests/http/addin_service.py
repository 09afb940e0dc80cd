"""Helpers for the service tests: drafts, a config, and uvicorn on a real loopback socket.

``serve(app)`` runs any app in a background thread until the ``with`` ends; ``Service`` is what
the ``service`` fixture (conftest.py) yields.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from correspondence_guard.config import Config, ServiceSettings, StoreSettings
from correspondence_guard.store.db import Store
from support import require_tool

TOKEN = "test-token-5f2a-8d1c9e"
ORIGINS = ["https://localhost:8765", "https://cg.ashdown.gov.uk/"]
ROOT = Path(__file__).resolve().parents[2]
ADDIN = ROOT / "deploy" / "outlook-addin"

# A member sends a resident's details to a private webmail address: personal data, blocked on send.
PERSONAL_DATA_TO_GMAIL: dict[str, Any] = {
    "from": {"emailAddress": "cllr.lorcan.pettifer@ashdown.gov.uk", "displayName": "Lorcan Pettifer"},
    "to": [
        {"emailAddress": "j.smith.home@gmail.com", "displayName": "J Smith", "recipientType": "externalUser"}
    ],
    "cc": [],
    "bcc": [],
    "subject": "Housing case",
    "body": {
        "html": "<p>Mrs Jane Doverhampton of 12 Tollgate Lane, phone 07700 900123, is in rent arrears "
        "and has dementia. Can you help?</p>"
    },
    "attachments": [],
    "composeType": "newMail",
    "conversationId": "AAQkADconv1",
}

# A member's reply to the all-members list: advice, prompted on send.
REPLY_ALL_MEMBERS: dict[str, Any] = {
    "from": {"emailAddress": "cllr.beatrix.quennell@ashdown.gov.uk", "displayName": "Beatrix Quennell"},
    "to": [
        {
            "emailAddress": "all.councillors@ashdown.gov.uk",
            "displayName": "All Councillors",
            "recipientType": "distributionList",
        }
    ],
    "subject": "RE: budget consultation",
    "body": {"html": "<p>I agree with the points raised.</p>"},
    "composeType": "reply",
}

# Between two members about lunch: nothing to say.
CLEAR: dict[str, Any] = {
    "from": {"emailAddress": "cllr.beatrix.quennell@ashdown.gov.uk"},
    "to": [{"emailAddress": "cllr.lorcan.pettifer@ashdown.gov.uk", "recipientType": "user"}],
    "subject": "Lunch",
    "body": {"html": "<p>See you at noon.</p>"},
    "composeType": "newMail",
}


def make_config(tmp: Path, directory: Path, **service: Any) -> Config:
    settings = {
        "token": TOKEN,
        "allowed_origins": ORIGINS,
        "max_request_mb": 1,
        "allow_http": True,
        **service,
    }
    return Config(
        directory=directory,
        store=StoreSettings(url=f"sqlite:///{tmp / 'store.db'}"),
        service=ServiceSettings(**settings),
    )


@contextmanager
def serve(app: Any, limits: dict[str, Any] | None = None, **ssl: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yield its base URL.
    ``limits``: uvicorn options as ``serve`` sets them (``http_security.uvicorn_limits``)."""
    sock = socket.socket(
        socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )  # so asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **(limits or {}), **ssl))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def wait_ready(base: str, **client: Any) -> None:
    deadline = time.monotonic() + 120
    while httpx.get(f"{base}/readyz", **client).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the service never became ready")
        time.sleep(0.1)


@dataclass
class Service:
    base: str
    store: Store
    config: Config

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


require = require_tool  # the http tests' name for it
