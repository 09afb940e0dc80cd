/*
 * correspondence-guard task pane ("Check this draft").
 *
 * Reads the draft with Office.js (cgReadDraft, cgCheck and cgPost from launchevent.js, loaded
 * first, which keeps the token to itself), adds the
 * attachments' contents, calls /v1/check on the service that served this page, and lists the
 * notes with severity, citation and what to do. Each note has "Not right?" (POST /v1/feedback);
 * a draft that would prompt on send offers to record the reason for sending anyway
 * (POST /v1/overrides). Text goes into the page with textContent only.
 */
(function () {
  "use strict";

  var TIMEOUT_MS = 20000;
  var MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;
  var MAX_TOTAL_BYTES = 15 * 1024 * 1024; // base64 of this stays under the service's 25 MB limit
  var SEVERITY = { high: "High", medium: "Medium", low: "Low" };
  var state = { draft: null, report: null };

  function byId(id) {
    return document.getElementById(id);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function setStatus(text) {
    byId("status").textContent = text;
  }

  function currentUser() {
    var profile = Office.context.mailbox.userProfile;
    var sender = state.draft && state.draft.from;
    return (profile && profile.emailAddress) || (sender && sender.emailAddress) || "unknown";
  }

  function post(path, payload) {
    return cgPost(path, payload).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          throw new Error(body.detail || "HTTP " + response.status);
        }
        return body;
      });
    });
  }

  /* Attachment contents (Mailbox 1.8), file by file, within the size limits. */
  function addContents(item, draft) {
    if (!cgSupports("1.8") || typeof item.getAttachmentContentAsync !== "function") {
      return Promise.resolve(draft);
    }
    var total = 0;
    var reads = draft.attachments.map(function (attachment) {
      var size = attachment.size || 0;
      if (size > MAX_ATTACHMENT_BYTES || total + size > MAX_TOTAL_BYTES) {
        return Promise.resolve();
      }
      total += size;
      return cgRead(function (done) { item.getAttachmentContentAsync(attachment.id, done); })
        .then(function (content) {
          if (content && content.format === "base64") {
            attachment.content = content.content;
          }
        });
    });
    return Promise.all(reads).then(function () { return draft; });
  }

  function context() {
    return { user: currentUser(), conversationId: state.draft.conversationId, subject: state.draft.subject };
  }

  function feedbackForm(finding) {
    var form = element("form", "feedback");
    form.hidden = true;
    var label = element("label", "", "What is wrong with this note?");
    var reason = element("textarea");
    reason.rows = 2;
    reason.maxLength = 2000;
    reason.required = true;
    label.appendChild(reason);
    var send = element("button", "", "Send feedback");
    send.type = "submit";
    var status = element("p", "feedback-status");
    status.setAttribute("role", "status");
    form.appendChild(label);
    form.appendChild(send);
    form.appendChild(status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (reason.value.trim().length < 3) {
        status.textContent = "Please say briefly what is wrong.";
        return;
      }
      send.disabled = true;
      var payload = Object.assign(context(), { rule: finding.rule, reason: reason.value.trim() });
      post("/v1/feedback", payload).then(function () {
        status.textContent = "Thank you: your feedback is recorded for the review.";
        reason.disabled = true;
      }, function (error) {
        status.textContent = "Your feedback could not be recorded: " + error.message;
        send.disabled = false;
      });
    });
    return form;
  }

  function noteItem(finding) {
    var item = element("li", "note severity-" + finding.severity);
    item.dataset.rule = finding.rule;
    var head = element("p", "note-head");
    head.appendChild(element("span", "severity", SEVERITY[finding.severity] || finding.severity));
    head.appendChild(element("strong", "title", finding.title));
    item.appendChild(head);
    item.appendChild(element("p", "reason", finding.reason));
    item.appendChild(element("p", "what-to-do", finding.note));
    if (finding.citations && finding.citations.length) {
      item.appendChild(element("p", "citations", "Protocol: " + finding.citations.join(", ")));
    }
    (finding.evidence || []).forEach(function (evidence) {
      item.appendChild(element("p", "evidence", "Seen in " + evidence.where + ": " + evidence.text));
    });
    var notRight = element("button", "not-right", "Not right?");
    notRight.type = "button";
    var form = feedbackForm(finding);
    notRight.addEventListener("click", function () {
      form.hidden = !form.hidden;
    });
    item.appendChild(notRight);
    item.appendChild(form);
    return item;
  }

  function show(report) {
    state.report = report;
    var findings = report.findings || [];
    var notes = byId("notes");
    findings.forEach(function (finding) {
      notes.appendChild(noteItem(finding));
    });
    (report.unchecked || []).forEach(function (line) {
      notes.appendChild(element("li", "note unchecked", "Not checked: " + line));
    });
    var count = findings.length === 1 ? "1 note." : findings.length + " notes.";
    if (!findings.length && (report.unchecked || []).length) {
      setStatus("No notes on what was checked, but part of this draft could not be checked (below).");
    } else if (!findings.length) {
      setStatus("No notes: nothing in this draft goes against the protocol checks.");
    } else if (report.send_action === "block") {
      setStatus(count + " This draft will not send until it is changed.");
    } else {
      setStatus(count + " You can still send it.");
    }
    byId("override").hidden = report.send_action !== "prompt";
  }

  function recordOverride() {
    var status = byId("override-status");
    var justification = byId("justification").value.trim();
    if (justification.length < 3) {
      status.textContent = "Please give the business reason.";
      return;
    }
    var rules = state.report.findings
      .filter(function (f) { return f.on_send === "prompt"; })
      .map(function (f) { return f.rule; });
    var payload = Object.assign(context(), { rules: rules, justification: justification });
    post("/v1/overrides", payload).then(function () {
      status.textContent = "Recorded. When you press Send, choose Send Anyway.";
    }, function (error) {
      status.textContent = "Your reason could not be recorded: " + error.message;
    });
  }

  function run() {
    var item = Office.context.mailbox.item;
    byId("check").disabled = true;
    byId("notes").textContent = "";
    byId("override").hidden = true;
    setStatus("Checking this draft…");
    var work = cgReadDraft(item)
      .then(function (draft) {
        state.draft = draft;
        return addContents(item, draft);
      })
      .then(function (draft) { return cgCheck(draft, "pane"); });
    cgWithin(TIMEOUT_MS, work)
      .then(show, function (error) {
        setStatus("This draft could not be checked: " + error.message + ".");
      })
      .then(function () { byId("check").disabled = false; });
  }

  Office.onReady(function () {
    byId("check").addEventListener("click", run);
    byId("record-override").addEventListener("click", recordOverride);
    run();
  });
})();
