"""The Microsoft Graph source (``kind: graph``) against a local HTTPS stand-in serving Graph's
documented shapes page by page (graph_server.py), with tokens from the test's OAuth2 server.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from graph_server import GraphServer
from oauth_server import OAuthServer

from correspondence_guard import Checker
from correspondence_guard.config import Config, ReviewSource, WatchAccount, WatchSettings
from correspondence_guard.mailbox.watcher import Watcher
from correspondence_guard.review.sources import open_source
from correspondence_guard.store.db import Store
from support import self_signed_certificate

Eml = Callable[..., bytes]
SECRET = "graph-secret-never-logged"  # noqa: S105
MAILBOX = "data.protection@ashdown.gov.uk"
_n = iter(range(1, 100_000))


class Stand:
    def __init__(self, root: Path):
        self.root = root
        self_signed_certificate(root / "cert.pem", root / "key.pem")
        self.oauth = OAuthServer(root / "cert.pem", root / "key.pem")
        self.graph = GraphServer(root / "cert.pem", root / "key.pem", self._token_ok)
        self.cafile = root / "cert.pem"

    def _token_ok(self, token: str) -> bool:
        found = self.oauth.state.tokens.get(token)
        return found is not None and found[1] > time.time()

    def account(self, folders: tuple[str, ...] = ("Inbox",), **extra: Any) -> WatchAccount:
        client_id = f"graph-app-{next(_n)}"
        self.oauth.add_client(client_id, SECRET, MAILBOX)
        secret = self.root / f"{client_id}.secret"
        secret.write_text(SECRET)
        return WatchAccount(
            name=client_id,
            kind="graph",
            graph_url=self.graph.url,
            username=f"{client_id}@ashdown.gov.uk",  # a mailbox of its own
            auth="oauth2",
            ca_file=self.cafile,
            folders=list(folders),
            oauth2={
                "provider": "generic",
                "token_url": self.oauth.token_url,
                "client_id": client_id,
                "client_secret_file": str(secret),
                "scope": "https://graph.microsoft.com/.default",
            },
            **extra,
        )

    def close(self) -> None:
        self.graph.close()
        self.oauth.close()


@pytest.fixture(scope="module")
def stand() -> Iterator[Stand]:
    root = Path(tempfile.mkdtemp(prefix="cg-graph-"))
    s = Stand(root)
    yield s
    s.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'cg.db'}")
    yield s
    s.close()


def make_watcher(store: Store, checker: Checker, accounts: list[WatchAccount], **kw: Any) -> Watcher:
    ws = WatchSettings(accounts=accounts, **{"backoff_max_seconds": 1, "poll_seconds": 1, **kw})
    return Watcher(ws, store, checker)


def locations(store: Store, account: str) -> list[str]:
    with store.engine.connect() as conn:
        q = sa.text("SELECT source FROM message_locations WHERE account = :a ORDER BY source")
        return [str(r[0]) for r in conn.execute(q, {"a": account})]


def fill(stand: Stand, account: WatchAccount, eml: Eml, n: int, folder: str = "Inbox") -> list[str]:
    return [stand.graph.state.add(account.username, folder, eml(flagged=i % 10 == 0)) for i in range(n)]


def test_delta_checkpoint_and_restart_neither_lose_nor_repeat(
    stand: Stand, eml: Eml, store: Store, checker: Checker
) -> None:
    account = stand.account()
    ids = fill(stand, account, eml, 250)
    hits = stand.graph.state.hits
    before = hits["value"]
    watcher = make_watcher(store, checker, [account])
    thread = threading.Thread(target=watcher.run)
    thread.start()
    deadline = time.monotonic() + 20
    while watcher.stats["checked"] < 120 and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop.set()  # a stop in the middle of the delta: the page in hand is not checkpointed
    thread.join(20)
    assert not thread.is_alive()
    first = watcher.stats["checked"]
    assert 120 <= first < 250
    more = fill(stand, account, eml, 30)
    again = make_watcher(store, checker, [account])
    assert again.run_once()  # the interrupted round, from its saved page on
    assert first + again.stats["checked"] == 250 and again.stats["seen"] == 0
    assert again.run_once()  # the next round, from its delta link: the 30 added meanwhile
    assert first + again.stats["checked"] == 280 and again.stats["seen"] == 0
    assert locations(store, account.name) == sorted(f"graph:{account.name}/Inbox/{i}" for i in ids + more)
    assert hits["value"] - before == 280  # each message fetched once, across the restart
    assert again.run_once() and first + again.stats["checked"] == 280  # nothing new the third time
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one() == 280


def test_an_expired_delta_link_reads_the_folder_again_without_repeats(
    stand: Stand, eml: Eml, store: Store, checker: Checker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    account = stand.account()
    fill(stand, account, eml, 30)
    assert make_watcher(store, checker, [account]).run_once()
    stand.graph.state.expire_delta_links()
    fill(stand, account, eml, 5)
    hits = stand.graph.state.hits
    gone, fetched = hits["410"], hits["value"]
    w = make_watcher(store, checker, [account])
    assert w.run_once()
    assert hits["410"] == gone + 1 and hits["value"] == fetched + 5
    assert w.stats["checked"] == 5 and w.stats["seen"] == 0
    assert len(locations(store, account.name)) == 35
    assert any(
        "delta link expired: SyncStateNotFound" in r.getMessage() and "again in full" in r.getMessage()
        for r in caplog.records
    )


def test_throttling_is_waited_out_with_retry_after(
    stand: Stand, eml: Eml, store: Store, checker: Checker
) -> None:
    account = stand.account()
    fill(stand, account, eml, 12)
    state = stand.graph.state
    state.throttle, throttled = 2, state.hits["429"]
    t0 = time.monotonic()
    w = make_watcher(store, checker, [account])
    assert w.run_once()
    assert state.hits["429"] == throttled + 2
    assert time.monotonic() - t0 >= 2.0  # Retry-After: 1, twice
    assert w.stats["checked"] == 12


def test_a_message_deleted_between_delta_and_fetch_is_skipped(
    stand: Stand, eml: Eml, store: Store, checker: Checker
) -> None:
    account = stand.account()
    ids = fill(stand, account, eml, 6)
    stand.graph.state.delete_when_listed.add(ids[2])
    w = make_watcher(store, checker, [account])
    assert w.run_once()
    assert w.stats["checked"] == 5 and w.stats["gone"] == 1
    assert f"graph:{account.name}/Inbox/{ids[2]}" not in locations(store, account.name)
    assert make_watcher(store, checker, [account]).run_once()  # its @removed entry next round is harmless


def test_a_refused_token_is_one_line_and_the_scan_fails_cleanly(
    stand: Stand, store: Store, checker: Checker, caplog: pytest.LogCaptureFixture
) -> None:
    account = stand.account()
    stand.oauth.revoke(account.oauth2.client_id)  # type: ignore[union-attr]
    assert make_watcher(store, checker, [account]).run_once() is False
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert (
        "invalid_client: AADSTS7000222" in errors[0].getMessage() and account.name in errors[0].getMessage()
    )
    assert SECRET not in caplog.text


def test_the_review_reads_a_graph_folder(stand: Stand, eml: Eml, tmp_path: Path) -> None:
    account = stand.account(folders=("SentItems",))
    day = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    for h in (1, 5, 30):  # 30 h: the next day
        when = day + dt.timedelta(hours=h)
        raw = eml().replace(
            b"Mon, 02 Mar 2026 09:30:00 +0000", when.strftime("%a, %d %b %Y %H:%M:%S +0000").encode()
        )
        stand.graph.state.add(account.username, "SentItems", raw, received=when)
    directory = Path(__file__).resolve().parents[1] / "data" / "directory.yaml"
    config = Config(directory=directory, watch=WatchSettings(accounts=[account]))
    source = ReviewSource(kind="graph", account=account.name, folder="SentItems")
    with open_source(source, config, day, day + dt.timedelta(days=1)) as entries:
        assert len(entries) == 2
        assert all(e.read().startswith(b"From: ") for e in entries)
        assert entries[0].label.startswith(f"graph:{account.name}/SentItems/")


def test_config_check_reads_a_delta_page(stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    from correspondence_guard.commands.config_check import check_accounts

    good, bad = stand.account(), stand.account()
    stand.oauth.revoke(bad.oauth2.client_id)  # type: ignore[union-attr]
    assert check_accounts([good, bad]) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"account {good.name}: OK: token from {stand.oauth.token_url}; Graph delta of {good.username}/Inbox"
    )
    assert (
        out[1].startswith(f"account {bad.name}: FAILED: OAuth2 token request to ")
        and "AADSTS7000222" in out[1]
    )


# -- the optional actions: an Outlook category and an advisory message (Mail.ReadWrite) ---------------
OWNER = "cllr.beatrix.quennell@ashdown.gov.uk"
ADVISORIES = "Protocol advisories"


def actions_account(stand: Stand, folder: bool = True) -> WatchAccount:
    account = stand.account(keyword="Protocol risk", advisory_folder=ADVISORIES, owner=OWNER)
    if folder:
        stand.graph.state.make_folder(account.username, ADVISORIES)
    return account


def categories(stand: Stand, account: WatchAccount) -> list[list[str]]:
    return [i.categories for i in stand.graph.state.messages(account.username, "Inbox")]


def test_a_flagged_message_gets_the_category_and_an_advisory_in_the_folder(
    stand: Stand, eml: Eml, store: Store, checker: Checker
) -> None:
    account = actions_account(stand)
    state = stand.graph.state
    state.add(account.username, "Inbox", eml(flagged=True, subject="Re: Budget, call 07700 900123"),
              categories=["Red category", "Follow up"])  # fmt: skip
    state.add(account.username, "Inbox", eml(), categories=["Blue category"])
    state.add(account.username, "Inbox", eml(flagged=True))
    w = make_watcher(store, checker, [account])
    assert w.run_once()
    assert categories(stand, account) == [
        ["Red category", "Follow up", "Protocol risk"],  # the existing categories kept
        ["Blue category"],  # clear: untouched
        ["Protocol risk"],
    ]
    advisories = state.messages(account.username, ADVISORIES)
    assert len(advisories) == 2 and (w.stats["keywords"], w.stats["advisories"]) == (2, 2)
    first = advisories[0].resource
    assert first is not None and first["isDraft"] is True
    assert first["toRecipients"] == [{"emailAddress": {"address": OWNER}}]
    assert first["internetMessageHeaders"] == [{"name": "X-Correspondence-Guard", "value": "advisory"}]
    assert first["subject"].startswith("Protocol advisory: Re: Budget, call 07700 ")
    assert "900123" not in first["subject"]
    text = first["body"]["content"]
    assert first["body"]["contentType"] == "text"
    assert "Reply sent to all members" in text and "CAM 10.1" in text
    assert f"{account.name}/Inbox (Graph message " in text
    assert "Thank you, noted" not in text  # the notes, never the body


def test_a_restart_repeats_neither_the_category_nor_the_advisory(
    stand: Stand, eml: Eml, store: Store, checker: Checker
) -> None:
    account = actions_account(stand)
    state = stand.graph.state
    for i in range(4):
        state.add(account.username, "Inbox", eml(flagged=i % 2 == 0), categories=["Green category"])
    assert make_watcher(store, checker, [account]).run_once()
    patches, posts = state.hits["patch"], state.hits["post"]
    after = categories(stand, account)
    assert after == [["Green category", "Protocol risk"], ["Green category"]] * 2
    again = make_watcher(store, checker, [account])  # the delta lists the two updated messages again
    assert again.run_once() and again.stats["checked"] == 0 and again.stats["seen"] == 0
    with store.engine.begin() as conn:  # as after a crash between the actions and remembering the ids
        conn.execute(sa.text("DELETE FROM graph_items WHERE account = :a"), {"a": account.name})
        conn.execute(sa.text("DELETE FROM graph_checkpoints WHERE account = :a"), {"a": account.name})
    third = make_watcher(store, checker, [account])
    assert third.run_once() and third.stats["seen"] == 4 and third.stats["checked"] == 0
    assert (state.hits["patch"], state.hits["post"]) == (patches, posts)
    assert (third.stats["keywords"], third.stats["advisories"]) == (0, 0)
    assert categories(stand, account) == after
    assert len(state.messages(account.username, ADVISORIES)) == 2


def test_an_unknown_advisory_folder_is_one_clear_log_line(
    stand: Stand, eml: Eml, store: Store, checker: Checker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="correspondence_guard")
    account = actions_account(stand, folder=False)
    fill(stand, account, eml, 30)  # three flagged
    w = make_watcher(store, checker, [account])
    assert w.run_once() and w.stats["checked"] == 30 and w.stats["keywords"] == 3
    assert make_watcher(store, checker, [account]).run_once()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        f"{account.name}/Inbox: advisory folder {ADVISORIES!r} does not exist in the mailbox "
        "(looked up by display name, top level): no advisories are created until it does"
    ]
    assert stand.graph.state.hits["folders"] >= 1 and w.stats["advisories"] == 0


def test_actions_wait_out_throttling_and_a_refused_action_is_one_line(
    stand: Stand, eml: Eml, store: Store, checker: Checker, caplog: pytest.LogCaptureFixture
) -> None:
    account = actions_account(stand)
    state = stand.graph.state
    fill(stand, account, eml, 10)  # one flagged
    state.throttle, state.throttle_method = 2, "PATCH"
    t0 = time.monotonic()
    w = make_watcher(store, checker, [account])
    try:
        assert w.run_once()
    finally:
        state.throttle, state.throttle_method = 0, None
    assert time.monotonic() - t0 >= 2.0 and w.stats["keywords"] == 1 and w.stats["advisories"] == 1
    state.refuse = {"PATCH", "POST"}  # Mail.Read only: the actions are refused, the watch goes on
    try:
        fill(stand, account, eml, 20)  # two flagged
        w2 = make_watcher(store, checker, [account])
        assert w2.run_once() and w2.stats["checked"] == 20
    finally:
        state.refuse = set()
    refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refused) == 4 and all("HTTP 403 ErrorAccessDenied" in m and "\n" not in m for m in refused)
    assert sum("category 'Protocol risk' not set" in m for m in refused) == 2
    assert sum("advisory not created" in m for m in refused) == 2


def test_read_only_without_actions(stand: Stand, eml: Eml, store: Store, checker: Checker) -> None:
    account = stand.account()
    state = stand.graph.state
    before = (state.hits["patch"], state.hits["post"], state.hits["folders"], state.hits["get"])
    state.add(account.username, "Inbox", eml(flagged=True), categories=["Red category"])
    w = make_watcher(store, checker, [account])
    assert w.run_once() and w.stats["flagged"] == 1
    assert (state.hits["patch"], state.hits["post"], state.hits["folders"], state.hits["get"]) == before
    assert categories(stand, account) == [["Red category"]]
