// The on-send handler under Microsoft's office-addin-mock: clear, prompt, block, service down,
// timeout; and the limits of classic Outlook's JavaScript-only runtime (ES2016, one file).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const acorn = require("acorn");
const walk = require("acorn-walk");
const { OfficeMockObject } = require("office-addin-mock");

const SOURCE = fs.readFileSync(path.join(__dirname, "..", "launchevent.js"), "utf8");
const ORIGIN = "https://cg.test:8765";
const TOKEN = "t0ken-\"quoted\"";

// As the service serves it: origin and token written into the file.
function served() {
  return SOURCE.replace("__CG_ORIGIN__", ORIGIN).replace("__CG_TOKEN__", JSON.stringify(TOKEN).slice(1, -1));
}

const DRAFT = {
  from: { emailAddress: "cllr.lorcan.pettifer@ashdown.gov.uk", displayName: "Lorcan Pettifer" },
  to: [{ emailAddress: "someone@gmail.com", displayName: "Someone", recipientType: "externalUser" }],
  subject: "Housing case",
  html: "<p>Mrs Jane Doverhampton of 12 Tollgate Lane is in rent arrears.</p>",
};

function versionAtMost(wanted, highest) {
  const [a, b] = wanted.split(".").map(Number);
  const [c, d] = highest.split(".").map(Number);
  return a < c || (a === c && b <= d);
}

const associated = {};

function installOffice({ mailbox = "1.15" } = {}) {
  const ok = (value) =>
    function () {
      arguments[arguments.length - 1]({ status: "succeeded", value });
    };
  global.Office = new OfficeMockObject({
    host: "outlook",
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    CoercionType: { Text: "text", Html: "html" },
    MailboxEnums: { SendModeOverride: { PromptUser: "promptUser" } },
    actions: {
      associate(name, handler) {
        associated[name] = handler;
      },
    },
    context: {
      requirements: { isSetSupported: (set, version) => set === "Mailbox" && versionAtMost(version, mailbox) },
      mailbox: {
        item: {
          itemType: "message",
          conversationId: "AAQkconv",
          from: { getAsync: ok(DRAFT.from) },
          to: { getAsync: ok(DRAFT.to) },
          cc: { getAsync: ok([]) },
          bcc: { getAsync: ok([]) },
          subject: { getAsync: ok(DRAFT.subject) },
          body: { getAsync: ok(DRAFT.html) },
          getComposeTypeAsync: ok({ composeType: "newMail", coercionType: "html" }),
          getAttachmentsAsync: ok([
            { id: "0", name: "case.docx", size: 1200, isInline: false },
            { id: "1", name: "logo.png", size: 300, isInline: true },
          ]),
        },
      },
    },
  });
}

installOffice();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cg-addin-"));
fs.writeFileSync(path.join(tmp, "launchevent.js"), served());
const addin = require(path.join(tmp, "launchevent.js"));
const TIMEOUT_MS = addin.CG.timeoutMs;

let calls;
function serviceAnswers(respond) {
  calls = [];
  global.fetch = (url, init) => {
    calls.push({ url, init });
    return respond(url, init);
  };
}
const reply = (status, body) => () => Promise.resolve({ ok: status < 300, status, json: async () => body });

function send() {
  return new Promise((resolve) => addin.onMessageSendHandler({ completed: resolve }));
}

const FINDING = {
  rule: "personal-data-to-private-address",
  severity: "high",
  title: "Personal data going to a private mailbox",
  reason: "personal data about M*** J*** D*** sent to a private address",
  note: "Send it only to the recipient's council or partner address.",
  citations: ["AIDE (private email)", "CAM 9.7"],
  evidence: [{ where: "body", text: "M*** J*** D***: home address" }],
};
const report = (action, findings) => ({ source: "draft", verdict: "x", send_action: action, findings });

test.beforeEach(() => {
  installOffice();
  addin.CG.timeoutMs = TIMEOUT_MS;
  addin.CG.onFailure = "prompt";
});

test("the handler is associated at top level under the manifest's FunctionName", () => {
  assert.equal(associated.onMessageSendHandler, addin.onMessageSendHandler);
});

test("clear: one call to /v1/check with the draft and the token, then allowEvent true", async () => {
  serviceAnswers(reply(200, report("allow", [])));
  assert.deepEqual(await send(), { allowEvent: true });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, ORIGIN + "/v1/check");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers.Authorization, "Bearer " + TOKEN);
  const body = JSON.parse(calls[0].init.body);
  assert.equal(body.trigger, "send");
  assert.deepEqual(body.from, { ...DRAFT.from, recipientType: "" });
  assert.deepEqual(body.to, DRAFT.to);
  assert.equal(body.subject, DRAFT.subject);
  assert.deepEqual(body.body, { html: DRAFT.html });
  assert.equal(body.composeType, "newMail");
  assert.equal(body.conversationId, "AAQkconv");
  assert.deepEqual(body.attachments, [{ id: "0", name: "case.docx", size: 1200 }]);
});

test("prompt: allowEvent false with the notes, a command to open the pane, and Send Anyway", async () => {
  serviceAnswers(reply(200, report("prompt", [{ ...FINDING, on_send: "prompt" }])));
  const done = await send();
  assert.equal(done.allowEvent, false);
  assert.equal(done.sendModeOverride, "promptUser");
  assert.equal(done.commandId, "cgCheckButton");
  assert.match(done.errorMessage, /Personal data going to a private mailbox \(AIDE \(private email\), CAM 9\.7\)/);
  assert.match(done.errorMessage, /send it anyway/);
  assert.match(done.errorMessageMarkdown, /\*\*Personal data going to a private mailbox\*\*/);
  assert.ok(done.errorMessage.length <= 500 && done.errorMessageMarkdown.length <= 500);
});

test("prompt on a Mailbox 1.12 client, which cannot offer Send Anyway: the send goes ahead", async () => {
  installOffice({ mailbox: "1.12" });
  serviceAnswers(reply(200, report("prompt", [{ ...FINDING, on_send: "prompt" }])));
  assert.deepEqual(await send(), { allowEvent: true });
});

test("block: allowEvent false, no Send Anyway, the notes cut to 500 characters", async () => {
  const many = Array.from({ length: 6 }, (_, i) => ({ ...FINDING, on_send: "block", title: `${FINDING.title} ${i}` }));
  serviceAnswers(reply(200, report("block", many)));
  const done = await send();
  assert.equal(done.allowEvent, false);
  assert.equal(done.sendModeOverride, undefined);
  assert.equal(done.commandId, "cgCheckButton");
  assert.ok(done.errorMessage.length <= 500, done.errorMessage.length);
  assert.ok(done.errorMessageMarkdown.length <= 500, done.errorMessageMarkdown.length);
  assert.match(done.errorMessage, /Change the draft before sending/);
});

test("block on a 1.12 client: still blocked, with the plain message only", async () => {
  installOffice({ mailbox: "1.12" });
  serviceAnswers(reply(200, report("block", [{ ...FINDING, on_send: "block" }])));
  const done = await send();
  assert.equal(done.allowEvent, false);
  assert.equal(done.errorMessageMarkdown, undefined);
  assert.equal(done.commandId, undefined);
  assert.equal(done.sendModeOverride, undefined);
});

test("service down: the user is told plainly and can still send", async () => {
  serviceAnswers(() => Promise.reject(new TypeError("Network request failed")));
  const done = await send();
  assert.equal(done.allowEvent, false);
  assert.equal(done.sendModeOverride, "promptUser");
  assert.match(done.errorMessage, /could not check this message: the checking service could not be reached/);
});

test("service refuses (wrong token): said plainly, the user can still send", async () => {
  serviceAnswers(reply(401, { detail: "missing or wrong bearer token" }));
  const done = await send();
  assert.equal(done.sendModeOverride, "promptUser");
  assert.match(done.errorMessage, /refused the request \(HTTP 401\)/);
});

test("timeout: gives up well inside Outlook's 5 s and lets the user send", async () => {
  assert.ok(TIMEOUT_MS <= 3000, "the default leaves time for Outlook to load the add-in");
  addin.CG.timeoutMs = 50;
  serviceAnswers(() => new Promise(() => {}));
  const started = Date.now();
  const done = await send();
  assert.ok(Date.now() - started < 1000);
  assert.equal(done.allowEvent, false);
  assert.equal(done.sendModeOverride, "promptUser");
  assert.match(done.errorMessage, /did not answer in time/);
});

test("a policy that fails closed: a timeout blocks the send, with no Send Anyway", async () => {
  addin.CG.onFailure = "block";
  addin.CG.timeoutMs = 50;
  serviceAnswers(() => new Promise(() => {}));
  const done = await send();
  assert.equal(done.allowEvent, false);
  assert.equal(done.sendModeOverride, undefined);
  assert.match(done.errorMessage, /could not check this message: .*did not answer in time.*send again/);
  installOffice({ mailbox: "1.12" }); // fail-closed holds on older clients too
  assert.equal((await send()).allowEvent, false);
});

test("parts that were not checked are named on send", async () => {
  const unchecked = ["attachment minutes.pdf could not be read: PdfReadError"];
  serviceAnswers(reply(200, { ...report("prompt", []), unchecked }));
  const done = await send();
  assert.equal(done.sendModeOverride, "promptUser");
  assert.match(done.errorMessage, /Not checked: attachment minutes\.pdf could not be read/);
});

test("service down on a 1.12 client: the send goes ahead", async () => {
  installOffice({ mailbox: "1.12" });
  serviceAnswers(() => Promise.reject(new TypeError("Network request failed")));
  assert.deepEqual(await send(), { allowEvent: true });
});

test("the file is ES2016 script: no imports, no async/await, no conditional operator, no DOM", () => {
  const ast = acorn.parse(SOURCE, { ecmaVersion: 2016, sourceType: "script" });
  const found = [];
  walk.full(ast, (node) => {
    if (node.type === "ConditionalExpression") found.push(`conditional operator at ${node.start}`);
    if (node.type === "Identifier" && ["document", "window", "localStorage", "require"].includes(node.name)) {
      found.push(`${node.name} at ${node.start}`);
    }
  });
  assert.deepEqual(found, []);
  assert.doesNotMatch(SOURCE, /\bimport\s*\(/);
  assert.ok(SOURCE.includes('"__CG_ORIGIN__"') && SOURCE.includes('"__CG_TOKEN__"'));
});

test("run as a page would run it, the token is in no global", () => {
  const vm = require("node:vm");
  const page = vm.createContext({ Promise });
  vm.runInContext(served(), page); // a classic script: `this` is the page's global object
  assert.equal(typeof page.cgCheck, "function"); // the task pane's entry points are there
  const leaked = [];
  for (const name of Object.getOwnPropertyNames(page)) {
    const value = page[name];
    const text = typeof value === "function" ? "" : JSON.stringify(value) || "";
    if (text.includes(TOKEN) || text.includes("t0ken")) leaked.push(name);
  }
  assert.deepEqual(leaked, []);
  assert.equal(page.CG, undefined);
});
