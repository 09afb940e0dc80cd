"""IMAP plumbing for the watcher: connecting, and the two optional actions on flagged mail.

The actions change nothing the watcher did not create: a keyword (``$ProtocolRisk``) is
added to a flagged message, never ``\\Seen`` or any other flag; an advisory is a new
message APPENDed to a folder of the mailbox owner's. Message sets are always lists of
ints (imapclient 4.x rejects ``"1:*"`` strings, after the server has acted on them).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.imapclient import SocketTimeout

from correspondence_guard.config import WatchAccount
from correspondence_guard.findings import Report
from correspondence_guard.masking import mask_text
from correspondence_guard.store.db import Store
from correspondence_guard.store.recording import Outcome, flagged_before

log = logging.getLogger(__name__)
ADVISORY_FROM = "correspondence-guard <correspondence-guard@correspondence-guard.invalid>"
ADVISORY_HEADER = "X-Correspondence-Guard"


def connect(account: WatchAccount, *, connect_timeout: float = 15, read_timeout: float = 60) -> IMAPClient:
    """Log in to ``account`` (TLS, STARTTLS or, on loopback only sensibly, plaintext)."""
    context = ssl.create_default_context(cafile=str(account.ca_file) if account.ca_file else None)
    timeout = SocketTimeout(connect=connect_timeout, read=read_timeout)
    implicit = account.security == "tls"
    client = IMAPClient(
        account.host,
        port=account.port,
        ssl=implicit,
        ssl_context=context if implicit else None,
        timeout=timeout,
    )
    try:
        if account.security == "starttls":
            client.starttls(context)
        sock = client.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if account.auth == "oauth2":
            from correspondence_guard.mailbox import oauth2

            oauth2.login(client, account)
        else:
            client.login(account.username, account.password())
    except BaseException:
        close(client)
        raise
    return client


def describe(exc: BaseException) -> str:
    """An exception for the log: its type and first line. A database error gives only the
    driver's message (its statement and parameters could hold personal data)."""
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def backoff(attempt: int, cap: float) -> float:
    """Seconds before reconnection attempt ``attempt``: 1, 2, 4 ... up to ``cap``, times U(0.5, 1)."""
    return float(min(cap, 2 ** min(attempt - 1, 20))) * random.uniform(0.5, 1.0)


def close(client: IMAPClient | None) -> None:
    """Log out politely; on a dead connection just drop the socket."""
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass


def set_keyword(client: IMAPClient, uid: int, keyword: str) -> None:
    """Add ``keyword`` to one message of the selected (read-write) folder; no other flag changes."""
    client.add_flags([uid], [keyword], silent=True)


def advisory_message(owner: str, subject: str, report: Report, where: str) -> bytes:
    """The advisory e-mail for one flagged message: the notes, masked evidence, no body text."""
    msg = EmailMessage()
    msg["From"] = ADVISORY_FROM
    msg["To"] = owner
    msg["Subject"] = f"Protocol advisory: {mask_text(subject) or '(no subject)'}"
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain="correspondence-guard.invalid")
    msg["Auto-Submitted"] = "auto-generated"
    msg[ADVISORY_HEADER] = "advisory"
    lines = [
        f"correspondence-guard checked a message in {where} and has {len(report.findings)} "
        "advisory note(s) under the Member/Officer Relations Protocol.",
        "",
    ]
    for i, f in enumerate(report.findings, 1):
        lines += [
            f"{i}. {f.title} ({f.severity.value}; rule {f.rule})",
            f"   Why: {f.reason}",
            f"   {f.note}",
        ]
        lines += [f"   Seen in {e.where}: {e.text}" for e in f.evidence]
        if f.citations:
            lines.append(f"   See: {', '.join(f.citations)}")
        lines.append("")
    lines.append("This is advice, not a block. Information Governance can help if you are unsure.")
    msg.set_content("\n".join(lines) + "\n")
    return msg.as_bytes()


def run_actions(
    client: IMAPClient, account: WatchAccount, where: str, uid: int, outcome: Outcome, store: Store
) -> list[str]:
    """The account's actions for a flagged message in the selected folder; what was done.

    The keyword goes on every flagged copy (the folder is selected read-write only when a
    keyword is configured); one advisory per Message-ID, when the message is first checked.
    """
    done = []
    if account.keyword:
        set_keyword(client, uid, account.keyword)
        done.append("keywords")
    report, message = outcome.report, outcome.message
    if account.advisory_folder and account.owner and outcome.new and report and message:
        if not flagged_before(store, message.message_id, outcome.key):
            advisory = advisory_message(account.owner, message.subject, report, f"{where} (UID {uid})")
            append_advisory(client, account.advisory_folder, advisory)
            done.append("advisories")
    return done


def append_advisory(client: IMAPClient, folder: str, message: bytes) -> None:
    """APPEND ``message`` to ``folder``, creating the folder first if it is missing."""
    if not client.folder_exists(folder):
        client.create_folder(folder)
        log.info("created folder %r for advisories", folder)
    client.append(folder, message)
