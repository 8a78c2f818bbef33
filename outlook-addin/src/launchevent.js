/*
 * leakguard for Outlook: asks `leakguard serve` whether the message may be sent.
 *
 * One plain script, no imports and no modules (ES2017): classic Outlook for Windows
 * runs it alone in a JavaScript-only runtime, the other clients load it from
 * commands.html. `leakguard serve` fills in the configuration object below when it
 * serves this file. Whatever happens, event.completed is called exactly once, before
 * the time budget runs out.
 */

var LEAKGUARD_CONFIG = /*leakguard-config*/{};

var LEAKGUARD_BUDGET_MS = 15000;

var LEAKGUARD_TEXT = {
  en: {
    warn: "Check",
    fix: "Fix message",
    notRun: "leakguard could not check this message",
    reasons: {
      timeout: "the check took too long",
      unauthorized: "the service refused the add-in's key",
      busy: "the service is busy",
      server: "the service answered with an error",
      network: "the service cannot be reached",
      read: "the message could not be read"
    },
    sendOnlyIfSure: "Send it only if you are sure it may leave as it is.",
    tryAgain: "Try again in a moment; if it keeps happening, tell your IT staff.",
    secure: "Secure address (MSSanté) of {who}: {address}",
    homonyms: "{count} professionals of this name have an MSSanté address, e.g. {address}"
  },
  fr: {
    warn: "Vérifier",
    fix: "Corriger",
    notRun: "leakguard n'a pas pu vérifier ce message",
    reasons: {
      timeout: "la vérification a pris trop de temps",
      unauthorized: "le service a refusé la clé du complément",
      busy: "le service est surchargé",
      server: "le service a répondu par une erreur",
      network: "le service est injoignable",
      read: "le message n'a pas pu être lu"
    },
    sendOnlyIfSure: "Envoyez-le seulement si vous êtes sûr qu'il peut partir tel quel.",
    tryAgain: "Réessayez dans un instant ; si cela se répète, prévenez votre service informatique.",
    secure: "Adresse sécurisée (MSSanté) de {who} : {address}",
    homonyms: "{count} professionnels de ce nom ont une adresse MSSanté, par exemple {address}"
  }
};

function leakguardLang() {
  var shown = (Office.context && Office.context.displayLanguage) || "";
  return String(shown).toLowerCase().indexOf("fr") === 0 ? "fr" : "en";
}

function leakguardSettings() {
  var config = LEAKGUARD_CONFIG || {};
  var service = config.service || "";
  var token = config.token || "";
  if (typeof location !== "undefined" && location) {
    if (!service && location.origin && location.origin !== "null") {
      service = location.origin;
    }
    if (!token && location.search) {
      var match = /[?&]token=([^&]*)/.exec(location.search);
      if (match) {
        token = decodeURIComponent(match[1]);
      }
    }
  }
  // Classic Outlook (Mailbox 1.14) also tells the script the address it was loaded from.
  var urls = Office.context && Office.context.urls;
  var runtime = urls && typeof urls.javascriptRuntimeUrl === "string" ? urls.javascriptRuntimeUrl : "";
  if (runtime) {
    var origin = /^(https:\/\/[^\/?#]+)/.exec(runtime);
    if (!service && origin) {
      service = origin[1];
    }
    var given = /[?&]token=([^&#]*)/.exec(runtime);
    if (!token && given) {
      token = decodeURIComponent(given[1]);
    }
  }
  return { service: service, token: token, budgetMs: config.budgetMs || LEAKGUARD_BUDGET_MS };
}

function leakguardSupports(version) {
  var requirements = Office.context && Office.context.requirements;
  return !!(requirements && requirements.isSetSupported("Mailbox", version));
}

function leakguardPromptUser() {
  var enums = Office.MailboxEnums && Office.MailboxEnums.SendModeOverride;
  return enums && enums.PromptUser ? enums.PromptUser : "promptUser";
}

/* UTF-8 text to Base64, without TextEncoder or btoa (not in every Outlook runtime). */
function leakguardBase64(text) {
  var bytes = [];
  for (var i = 0; i < text.length; i++) {
    var code = text.codePointAt(i);
    if (code > 0xffff) {
      i++;
    }
    if (code < 0x80) {
      bytes.push(code);
    } else if (code < 0x800) {
      bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    } else if (code < 0x10000) {
      bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    } else {
      bytes.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 63),
        0x80 | ((code >> 6) & 63),
        0x80 | (code & 63)
      );
    }
  }
  var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  var out = "";
  for (var j = 0; j < bytes.length; j += 3) {
    var n = (bytes[j] << 16) | ((bytes[j + 1] || 0) << 8) | (bytes[j + 2] || 0);
    out += alphabet[(n >> 18) & 63] + alphabet[(n >> 12) & 63];
    out += j + 1 < bytes.length ? alphabet[(n >> 6) & 63] : "=";
    out += j + 2 < bytes.length ? alphabet[n & 63] : "=";
  }
  return out;
}

/* An Office callback API as a promise; a failed call rejects with reason "read". */
function leakguardAsync(call) {
  return new Promise(function (resolve, reject) {
    call(function (result) {
      if (result && result.status === "failed") {
        reject({ leakguard: "read" });
      } else {
        resolve(result ? result.value : undefined);
      }
    });
  });
}

function leakguardPeople(field) {
  if (!field || typeof field.getAsync !== "function") {
    return Promise.resolve([]);
  }
  return leakguardAsync(function (done) {
    field.getAsync(done);
  }).then(function (list) {
    return (list || []).map(function (person) {
      return { name: person.displayName || "", address: person.emailAddress || "" };
    });
  });
}

/* One attachment: a file's bytes, an attached message as EML, a cloud file's link. */
function leakguardAttachment(item, details) {
  return leakguardAsync(function (done) {
    item.getAttachmentContentAsync(details.id, done);
  }).then(function (content) {
    var format = String((content && content.format) || "").toLowerCase();
    var data = (content && content.content) || "";
    if (format === "eml") {
      return { name: details.name, eml_base64: leakguardBase64(data) };
    }
    if (format === "url") {
      return { name: details.name, url: data || details.name };
    }
    var entry = {
      name: details.name,
      content_type: details.contentType || "application/octet-stream",
      content_base64: format === "icalendar" ? leakguardBase64(data) : data
    };
    if (details.isInline) {
      entry.inline = true;
    }
    return entry;
  });
}

function leakguardAttachments(item) {
  if (typeof item.getAttachmentsAsync !== "function") {
    return Promise.resolve([]);
  }
  return leakguardAsync(function (done) {
    item.getAttachmentsAsync(done);
  }).then(function (list) {
    return Promise.all(
      (list || []).map(function (details) {
        return leakguardAttachment(item, details);
      })
    );
  });
}

/* The message being sent, in the shape POST /v1/check takes. */
function leakguardCollect(item, lang) {
  var sender = item.from && typeof item.from.getAsync === "function"
    ? leakguardAsync(function (done) { item.from.getAsync(done); })
    : Promise.resolve(null);
  return Promise.all([
    sender,
    leakguardPeople(item.to),
    leakguardPeople(item.cc),
    leakguardPeople(item.bcc),
    leakguardAsync(function (done) { item.subject.getAsync(done); }),
    leakguardAsync(function (done) { item.body.getAsync("text", done); }),
    leakguardAttachments(item)
  ]).then(function (parts) {
    var request = {
      to: parts[1],
      cc: parts[2],
      bcc: parts[3],
      subject: parts[4] || "",
      body: { text: parts[5] || "", html: null },
      attachments: parts[6],
      lang: lang
    };
    if (parts[0] && parts[0].emailAddress) {
      request.from = { name: parts[0].displayName || "", address: parts[0].emailAddress };
    }
    return request;
  });
}

function leakguardPost(settings, request, budgetMs) {
  var controller = typeof AbortController === "function" ? new AbortController() : null;
  var timedOut = false;
  var timer = controller
    ? setTimeout(function () {
        timedOut = true;
        controller.abort();
      }, budgetMs)
    : null;
  var options = {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + settings.token },
    body: JSON.stringify(request)
  };
  if (controller) {
    options.signal = controller.signal;
  }
  return fetch(settings.service + "/v1/check", options).then(
    function (response) {
      if (timer) { clearTimeout(timer); }
      if (response.status === 401 || response.status === 403) {
        throw { leakguard: "unauthorized" };
      }
      if (response.status === 503) {
        // "busy", or "timeout" when the check itself ran out of time.
        return response.json().then(
          function (refusal) {
            throw { leakguard: refusal && refusal.error === "timeout" ? "timeout" : "busy" };
          },
          function () {
            throw { leakguard: "busy" };
          }
        );
      }
      if (!response.ok) {
        throw { leakguard: "server" };
      }
      return response.json();
    },
    function () {
      if (timer) { clearTimeout(timer); }
      // Aborted by our own timer: the service is there but too slow, not unreachable.
      throw { leakguard: timedOut ? "timeout" : "network" };
    }
  );
}

/* One line per recipient for whom the national MSSanté directory has a secure address. */
function leakguardSuggestions(answer, lang) {
  var text = LEAKGUARD_TEXT[lang];
  var list = answer && Array.isArray(answer.suggestions) ? answer.suggestions : [];
  var seen = {};
  var lines = [];
  for (var i = 0; i < list.length; i++) {
    var item = list[i] || {};
    var recipient = String(item.recipient || "");
    if (!item.address || seen[recipient]) {
      continue;
    }
    seen[recipient] = true;
    var who = String(item.name || item.address);
    if (item.profession) {
      who += " (" + item.profession + ")";
    }
    var line = item.count > 1 ? text.homonyms : text.secure;
    lines.push(
      line.replace("{count}", String(item.count)).replace("{who}", who).replace("{address}", String(item.address))
    );
  }
  return lines.join("\n");
}

/* What event.completed receives for the service's answer. */
function leakguardOutcome(answer, lang) {
  var text = LEAKGUARD_TEXT[lang];
  var action = answer && answer.action;
  if (action === "allow") {
    return { allowEvent: true };
  }
  if (action !== "warn" && action !== "encrypt" && action !== "block") {
    return leakguardNotRun("server", lang);
  }
  // The secure address comes first, so that the 500-character cut never hides it.
  var advice = leakguardSuggestions(answer, lang);
  var shown = (advice ? advice + "\n" : "") + String(answer.message || "");
  var outcome = { allowEvent: false, errorMessage: shown.slice(0, 500) };
  if (leakguardSupports("1.14")) {
    outcome.cancelLabel = action === "warn" ? text.warn : text.fix;
    if (action === "warn") {
      outcome.sendModeOverride = leakguardPromptUser();
    }
  }
  return outcome;
}

/*
 * The check could not run: say so, never a silent pass. With Mailbox 1.14 the person is
 * offered Send anyway; before 1.14 the add-in cannot offer it, the manifest's send mode
 * decides (SoftBlock and Block: the message waits), so the text does not promise it.
 */
function leakguardNotRun(reason, lang) {
  var text = LEAKGUARD_TEXT[lang];
  var why = text.reasons[reason] || text.reasons.server;
  var prompt = leakguardSupports("1.14");
  var outcome = {
    allowEvent: false,
    errorMessage: text.notRun + " (" + why + "). " + (prompt ? text.sendOnlyIfSure : text.tryAgain)
  };
  if (prompt) {
    outcome.sendModeOverride = leakguardPromptUser();
  }
  return outcome;
}

function onMessageSendHandler(event) {
  var lang = "en";
  var finished = false;
  var timer = null;
  function finish(outcome) {
    if (finished) {
      return;
    }
    finished = true;
    if (timer) {
      clearTimeout(timer);
    }
    event.completed(outcome);
  }
  try {
    lang = leakguardLang();
    var settings = leakguardSettings();
    var started = Date.now();
    timer = setTimeout(function () {
      finish(leakguardNotRun("timeout", lang));
    }, settings.budgetMs);
    leakguardCollect(Office.context.mailbox.item, lang)
      .then(function (request) {
        var left = Math.max(settings.budgetMs - (Date.now() - started) - 250, 1);
        return leakguardPost(settings, request, left);
      })
      .then(function (answer) {
        finish(leakguardOutcome(answer, lang));
      })
      .catch(function (error) {
        finish(leakguardNotRun((error && error.leakguard) || "read", lang));
      });
  } catch (error) {
    finish(leakguardNotRun("read", lang));
  }
}

if (typeof Office !== "undefined" && Office.actions && Office.actions.associate) {
  Office.actions.associate("onMessageSendHandler", onMessageSendHandler);
}
