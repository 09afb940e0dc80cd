/*
 * correspondence-guard: the on-send check (Outlook Smart Alerts, OnMessageSend).
 *
 * Classic Outlook on Windows runs this file alone in its JavaScript-only runtime, so it is one
 * file with no imports, no DOM, and ECMAScript 2016: no async/await, and no conditional
 * operator (older builds refuse to load a file that has one). The service writes its own
 * origin and its bearer token into the two strings below as it serves the file. The task pane
 * loads this file too and uses cgReadDraft and cgCheck from it.
 *
 * Everything is inside one function, so the token is in no global variable: a page that
 * managed to run this file could not read it from window. (The service also refuses to serve
 * the file to other sites: Cross-Origin-Resource-Policy and Fetch Metadata.)
 *
 * One call to /v1/check. The whole handler, reading the draft included, gives up after
 * CG.timeoutMs, well inside Outlook's 5 seconds, which also count the loading of the add-in.
 */

(function (root) {
  "use strict";

  var cgToken = "__CG_TOKEN__";
  var CG = {
    origin: "__CG_ORIGIN__",
    onFailure: "__CG_ON_FAILURE__", // the policy's limits.on_check_failure: "prompt" or "block"
    timeoutMs: 2500,
    commandId: "cgCheckButton", // the task pane button in manifest.xml
    maxMessage: 500 // Smart Alerts' limit for errorMessage and errorMessageMarkdown
  };

  function cgSupports(version) {
    var requirements = Office.context.requirements;
    return Boolean(requirements && requirements.isSetSupported("Mailbox", version));
  }

  function cgError(kind, text) {
    var error = new Error(text);
    error.cgKind = kind;
    return error;
  }

  /* Call an Office.js getter that takes a callback; resolve with its value, or undefined on failure. */
  function cgRead(call) {
    return new Promise(function (resolve) {
      var succeeded = (Office.AsyncResultStatus && Office.AsyncResultStatus.Succeeded) || "succeeded";
      try {
        call(function (result) {
          if (result && result.status === succeeded) {
            resolve(result.value);
          } else {
            resolve(undefined);
          }
        });
      } catch (e) {
        resolve(undefined); // a getter this client lacks
      }
    });
  }

  function cgAddress(detail) {
    if (!detail || !detail.emailAddress) {
      return undefined;
    }
    return {
      emailAddress: detail.emailAddress,
      displayName: detail.displayName || "",
      recipientType: detail.recipientType || ""
    };
  }

  function cgAddresses(details) {
    return (details || []).map(cgAddress).filter(Boolean);
  }

  /*
   * The draft as /v1/check reads it. The body is read as HTML: the text form is unreliable on the
   * web. Attachments go by name only; the task pane adds their contents.
   */
  function cgReadDraft(item) {
    var html = (Office.CoercionType && Office.CoercionType.Html) || "html";
    return Promise.all([
      cgRead(function (done) { item.from.getAsync(done); }),
      cgRead(function (done) { item.to.getAsync(done); }),
      cgRead(function (done) { item.cc.getAsync(done); }),
      cgRead(function (done) { item.bcc.getAsync(done); }),
      cgRead(function (done) { item.subject.getAsync(done); }),
      cgRead(function (done) { item.body.getAsync(html, done); }),
      cgRead(function (done) { item.getComposeTypeAsync(done); }),
      cgRead(function (done) { item.getAttachmentsAsync(done); })
    ]).then(function (values) {
      var draft = {
        to: cgAddresses(values[1]),
        cc: cgAddresses(values[2]),
        bcc: cgAddresses(values[3]),
        subject: values[4] || "",
        body: { html: values[5] || "" },
        composeType: (values[6] && values[6].composeType) || "",
        inReplyTo: item.inReplyTo || "",
        conversationId: item.conversationId || "",
        attachments: (values[7] || []).filter(function (a) { return !a.isInline; }).map(function (a) {
          return { id: a.id, name: a.name, size: a.size };
        })
      };
      var sender = cgAddress(values[0]);
      if (sender) {
        draft.from = sender;
      }
      return draft;
    });
  }

  /* POST JSON to the service with the token; resolve with the fetch Response. */
  function cgPost(path, payload) {
    return fetch(CG.origin + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + cgToken },
      body: JSON.stringify(payload)
    });
  }

  /* POST the draft to /v1/check; resolve with the report, reject with a cgError. */
  function cgCheck(draft, trigger) {
    draft.trigger = trigger;
    return cgPost("/v1/check", draft).then(function (response) {
      if (!response.ok) {
        throw cgError("refused", "the checking service refused the request (HTTP " + response.status + ")");
      }
      return response.json();
    }, function () {
      throw cgError("unreachable", "the checking service could not be reached");
    });
  }

  function cgWithin(ms, promise) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(cgError("timeout", "the checking service did not answer in time"));
      }, ms);
      promise.then(function (value) {
        clearTimeout(timer);
        resolve(value);
      }, function (error) {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  function cgClip(text, max) {
    if (text.length <= max) {
      return text;
    }
    return text.slice(0, max - 1) + "\u2026";
  }

  function cgMarkdownEscape(text) {
    return String(text).replace(/([\\`*_\[\]#])/g, "\\$1");
  }

  function cgCited(finding) {
    var cites = (finding.citations || []).slice(0, 3).join(", ");
    if (!cites) {
      return "";
    }
    return " (" + cites + ")";
  }

  /* The top notes, within 500 characters with the closing line kept whole. */
  function cgMessages(report) {
    var findings = report.findings || [];
    var count = findings.length + " note";
    if (findings.length !== 1) {
      count += "s";
    }
    var closing = "Change the draft before sending. Choose \"Check this draft\" for the details.";
    if (report.send_action === "prompt") {
      closing = "You can change the draft or send it anyway. Choose \"Check this draft\" for the details.";
    }
    var plain = "correspondence-guard has " + count + " on this draft:";
    var markdown = "**correspondence-guard has " + count + " on this draft:**\n\n";
    findings.forEach(function (f) {
      plain += "\n- " + f.title + cgCited(f) + ": " + f.note;
      markdown += "- **" + cgMarkdownEscape(f.title) + "**" + cgMarkdownEscape(cgCited(f)) + ": " +
        cgMarkdownEscape(f.note) + "\n";
    });
    (report.unchecked || []).forEach(function (line) {
      plain += "\n- Not checked: " + line;
      markdown += "- **Not checked:** " + cgMarkdownEscape(line) + "\n";
    });
    return {
      plain: cgClip(plain, CG.maxMessage - closing.length - 2) + "\n\n" + closing,
      markdown: cgClip(markdown.trim(), CG.maxMessage - closing.length - 2) + "\n\n" + closing
    };
  }

  function cgPromptUser() {
    var enums = Office.MailboxEnums;
    return (enums && enums.SendModeOverride && enums.SendModeOverride.PromptUser) || "promptUser";
  }

  /* What to tell Outlook for a report: allow, prompt (Send Anyway offered) or block. */
  function cgCompletion(report) {
    var action = report.send_action;
    if (action !== "prompt" && action !== "block") {
      return { allowEvent: true };
    }
    if (action === "prompt" && !cgSupports("1.14")) {
      // Before Mailbox 1.14 the manifest's SoftBlock cannot be relaxed to offer Send Anyway, and
      // prompt-level notes are advice: let the message go (the task pane still shows them).
      return { allowEvent: true };
    }
    var messages = cgMessages(report);
    var options = { allowEvent: false, errorMessage: messages.plain };
    if (cgSupports("1.15")) {
      options.errorMessageMarkdown = messages.markdown;
    }
    if (cgSupports("1.14")) {
      options.commandId = CG.commandId;
    }
    if (action === "prompt") {
      options.sendModeOverride = cgPromptUser();
    }
    return options;
  }

  /* The service could not answer: say so plainly, and let the user send anyway. */
  function cgUnavailable(error) {
    var why = (error && error.cgKind && error.message) || "the check failed";
    if (CG.onFailure === "block") { // the council's policy: fail closed
      return {
        allowEvent: false,
        errorMessage: cgClip("correspondence-guard could not check this message: " + why +
          ". Your council asks for every message to be checked: wait a moment and send again.", CG.maxMessage)
      };
    }
    if (!cgSupports("1.14")) {
      return { allowEvent: true }; // no Send Anyway before 1.14: never stop mail for our own failure
    }
    return {
      allowEvent: false,
      errorMessage: cgClip("correspondence-guard could not check this message: " + why +
        ". You can send it anyway, or wait a moment and send again.", CG.maxMessage),
      sendModeOverride: cgPromptUser()
    };
  }

  function onMessageSendHandler(event) {
    var item = Office.context.mailbox.item;
    var work = cgReadDraft(item).then(function (draft) {
      return cgCheck(draft, "send");
    });
    cgWithin(CG.timeoutMs, work).then(function (report) {
      event.completed(cgCompletion(report));
    }).catch(function (error) {
      event.completed(cgUnavailable(error));
    });
  }

  if (typeof Office !== "undefined" && Office.actions) {
    Office.actions.associate("onMessageSendHandler", onMessageSendHandler);
  }

  // For the task pane: functions only; the token stays in this closure.
  root.cgReadDraft = cgReadDraft;
  root.cgCheck = cgCheck;
  root.cgPost = cgPost;
  root.cgSupports = cgSupports;
  root.cgRead = cgRead;
  root.cgWithin = cgWithin;

  if (typeof module !== "undefined" && module.exports) {
    module.exports = {
      CG: CG,
      onMessageSendHandler: onMessageSendHandler,
      cgReadDraft: cgReadDraft,
      cgCheck: cgCheck,
      cgCompletion: cgCompletion
    };
  }
}(this));
