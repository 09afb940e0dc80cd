"""The task pane in headless Chromium against the real service on loopback.

Debian's chromium is driven by Playwright (never ``playwright install``). The office.js CDN URL
is routed to a stub Office object that serves a draft; any other request leaving loopback is
aborted and recorded, so the tests also prove the pane calls nothing but its own service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from addin_service import PERSONAL_DATA_TO_GMAIL, REPLY_ALL_MEMBERS, Service, require

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"

# Stands in for office.js: only what the pane and launchevent.js use, serving window.__DRAFT__.
OFFICE_STUB = """
(function () {
  var d = window.__DRAFT__;
  window.__calls = [];
  function ok(name, value) {
    return function () {
      var args = Array.prototype.slice.call(arguments);
      var done = args.pop();
      window.__calls.push([name].concat(args));
      setTimeout(function () { done({ status: "succeeded", value: value }); }, 0);
    };
  }
  window.Office = {
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    CoercionType: { Text: "text", Html: "html" },
    MailboxEnums: { SendModeOverride: { PromptUser: "promptUser" } },
    actions: { associate: function () {} },
    context: {
      requirements: { isSetSupported: function (set, version) { return set === "Mailbox"; } },
      mailbox: {
        userProfile: { emailAddress: d.from.emailAddress, displayName: d.from.displayName },
        item: {
          itemType: "message",
          conversationId: d.conversationId || "",
          from: { getAsync: ok("from", d.from) },
          to: { getAsync: ok("to", d.to) },
          cc: { getAsync: ok("cc", d.cc || []) },
          bcc: { getAsync: ok("bcc", d.bcc || []) },
          subject: { getAsync: ok("subject", d.subject) },
          body: { getAsync: ok("body", d.body.html) },
          getComposeTypeAsync: ok("composeType", { composeType: d.composeType, coercionType: "html" }),
          getAttachmentsAsync: ok("attachments", d.files || []),
          getAttachmentContentAsync: function (id, done) {
            window.__calls.push(["attachmentContent", id]);
            done({ status: "succeeded", value: { format: "base64", content: d.contents[id] } });
          }
        }
      }
    },
    onReady: function (callback) {
      var info = { host: "Outlook", platform: "OfficeOnline" };
      if (callback) { setTimeout(function () { callback(info); }, 0); }
      return Promise.resolve(info);
    }
  };
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(str(CHROMIUM), "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


class Pane:
    """The task pane open on a draft, with every request that tried to leave loopback."""

    def __init__(self, browser: Any, service: Service, draft: dict[str, Any]):
        self.service = service
        self.left: list[str] = []
        self.checks: list[dict[str, Any]] = []
        self.page = browser.new_page()
        self.page.add_init_script(f"window.__DRAFT__ = {json.dumps(draft)};")
        self.page.route("**/*", self._route)
        self.page.on("request", self._seen)
        self.page.goto(f"{service.base}/addin/taskpane.html")

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url == OFFICE_JS:
            route.fulfill(status=200, content_type="text/javascript", body=OFFICE_STUB)
        elif url.startswith(self.service.base + "/"):
            route.continue_()
        else:
            self.left.append(url)
            route.abort()

    def _seen(self, request: Any) -> None:
        if request.url.endswith("/v1/check") and request.method == "POST":
            self.checks.append(json.loads(request.post_data))

    def calls(self) -> list[list[Any]]:
        return list(self.page.evaluate("window.__calls"))


@pytest.fixture
def open_pane(browser: Any, service: Service) -> Iterator[Any]:
    panes: list[Pane] = []

    def open_(draft: dict[str, Any]) -> Pane:
        panes.append(Pane(browser, service, draft))
        return panes[-1]

    yield open_
    for pane in panes:
        pane.page.close()
        assert pane.left == [], "the pane tried to reach beyond its own service"


def test_shows_the_notes_for_personal_data_to_gmail(open_pane: Any) -> None:
    draft = {
        **PERSONAL_DATA_TO_GMAIL,
        "files": [{"id": "0", "name": "notes.txt", "size": 40, "isInline": False}],
        "contents": {"0": "UmVzaWRlbnQgbm90ZXMgKGRyYWZ0KQ=="},
    }
    pane = open_pane(draft)
    note = pane.page.locator('#notes li.note[data-rule="personal-data-to-private-address"]')
    note.wait_for(timeout=30_000)
    assert note.locator(".severity").inner_text().lower() == "high"
    assert note.locator(".title").inner_text() == "Personal data going to a private mailbox"
    assert "council or partner address" in note.locator(".what-to-do").inner_text()
    assert note.locator(".citations").inner_text().startswith("Protocol: AIDE (private email)")
    assert "Doverhampton" not in note.inner_text()  # evidence is masked
    assert "will not send until it is changed" in pane.page.locator("#status").inner_text()
    assert pane.page.locator("#override").is_hidden()  # a block cannot be overridden
    [body_call] = [c for c in pane.calls() if c[0] == "body"]
    assert body_call[1] == "html"  # the body is read as HTML
    [sent] = pane.checks
    assert sent["trigger"] == "pane" and sent["to"][0]["recipientType"] == "externalUser"
    assert sent["attachments"] == [
        {"id": "0", "name": "notes.txt", "size": 40, "content": draft["contents"]["0"]}
    ]


def test_not_right_records_feedback(open_pane: Any, service: Service) -> None:
    pane = open_pane(PERSONAL_DATA_TO_GMAIL)
    note = pane.page.locator('#notes li.note[data-rule="personal-data-to-private-address"]')
    note.wait_for(timeout=30_000)
    before = len(service.store.list_feedback())
    note.get_by_role("button", name="Not right?").click()
    note.locator(".feedback textarea").fill("The recipient is the resident herself, at her request.")
    note.get_by_role("button", name="Send feedback").click()
    status = note.locator(".feedback-status")
    status.filter(has_text="recorded").wait_for(timeout=10_000)
    assert status.inner_text() == "Thank you: your feedback is recorded for the review."
    [row] = service.store.list_feedback()[before:]
    assert row["rule"] == "personal-data-to-private-address"
    assert row["user"] == PERSONAL_DATA_TO_GMAIL["from"]["emailAddress"]
    assert row["conversation_id"] == PERSONAL_DATA_TO_GMAIL["conversationId"]


def test_a_prompt_offers_to_record_the_reason_for_sending_anyway(open_pane: Any, service: Service) -> None:
    pane = open_pane({**REPLY_ALL_MEMBERS, "conversationId": "AAQkconv3"})
    pane.page.locator('#notes li.note[data-rule="reply-all-members"]').wait_for(timeout=30_000)
    assert "You can still send it" in pane.page.locator("#status").inner_text()
    pane.page.locator("#justification").fill("The Chair asked me to answer all members.")
    pane.page.get_by_role("button", name="Record my reason").click()
    pane.page.locator("#override-status").filter(has_text="Recorded").wait_for(timeout=10_000)
    [row] = [o for o in service.store.list_overrides() if o["conversation_id"] == "AAQkconv3"]
    assert row["rules"] == ["reply-all-members"] and row["user"].startswith("cllr.beatrix")
