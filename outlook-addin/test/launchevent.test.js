"use strict";
// The Smart Alerts handler with office-addin-mock: every action, every failure path,
// each kind of attachment, and event.completed called exactly once every time.
const test = require("node:test");
const assert = require("node:assert/strict");
const acorn = require("acorn");
const { SOURCE, send, fakeFetch, respond } = require("../testing/handler.js");

const CONFIG = { service: "https://leakguard.test:8443", token: "t0k3n-0123456789abcdef", budgetMs: 300 };
const MESSAGE = {
  to: [{ name: "Claire Martin", address: "dr.martin@cabinet-exemple.fr" }],
  cc: [{ name: "", address: "accueil@clinique-exemple.fr" }],
  bcc: [{ name: "Archive", address: "archive@clinique-exemple.fr" }],
  subject: "Compte rendu",
  body: "Bonjour, voici le compte rendu.",
};

function answer(action, message) {
  return respond(200, { action: action, findings: [], message: message, verdict_id: "v-1" });
}

test("the script is ES2017 and a classic script: it parses as such", () => {
  // Classic Outlook's JavaScript-only runtime: no modules, nothing newer than ES2017.
  assert.doesNotThrow(() => acorn.parse(SOURCE, { ecmaVersion: 2017, sourceType: "script" }));
  assert.throws(() => acorn.parse("const { a, ...rest } = b;", { ecmaVersion: 2017 }));
});

test("the script is one classic script: no import, export or require", () => {
  assert.doesNotMatch(SOURCE, /^\s*(import|export)\b/m);
  assert.doesNotMatch(SOURCE, /\brequire\s*\(/);
  assert.doesNotMatch(SOURCE, /\bimport\s*\(/);
});

test("allow: the message is sent, and the request carries the whole message", async () => {
  const net = fakeFetch(() => answer("allow", "Allowed"));
  const { calls, handlers } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
  assert.deepEqual(calls, [{ allowEvent: true }]);
  assert.equal(net.requests.length, 1);
  const request = net.requests[0];
  assert.equal(request.url, "https://leakguard.test:8443/v1/check");
  assert.equal(request.init.method, "POST");
  assert.equal(request.init.headers.Authorization, "Bearer t0k3n-0123456789abcdef");
  assert.equal(request.init.headers["Content-Type"], "application/json");
  assert.equal(handlers.coercion, "text");
  assert.deepEqual(request.body, {
    from: { name: "Accueil", address: "accueil@clinique-exemple.fr" },
    to: [{ name: "Claire Martin", address: "dr.martin@cabinet-exemple.fr" }],
    cc: [{ name: "", address: "accueil@clinique-exemple.fr" }],
    bcc: [{ name: "Archive", address: "archive@clinique-exemple.fr" }],
    subject: "Compte rendu",
    body: { text: "Bonjour, voici le compte rendu.", html: null },
    attachments: [],
    lang: "en",
  });
});

test("warn: not sent, but the person may send anyway (PromptUser) in French", async () => {
  const net = fakeFetch(() => answer("warn", "Attention : vérifiez ce message."));
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG, language: "fr-FR" });
  assert.deepEqual(calls, [
    {
      allowEvent: false,
      errorMessage: "Attention : vérifiez ce message.",
      cancelLabel: "Vérifier",
      sendModeOverride: "promptUser",
    },
  ]);
  assert.equal(net.requests[0].body.lang, "fr");
});

test("warn on a client without Mailbox 1.14: no override, no custom label", async () => {
  const net = fakeFetch(() => answer("warn", "Warning"));
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG, mailbox: 1.12 });
  assert.deepEqual(calls, [{ allowEvent: false, errorMessage: "Warning" }]);
});

for (const action of ["encrypt", "block"]) {
  test(`${action}: not sent, with the explanation and a short cancel label`, async () => {
    const text = action === "block" ? "Blocked: this message must not be sent." : "Encrypt: …";
    const net = fakeFetch(() => answer(action, text));
    const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
    assert.deepEqual(calls, [{ allowEvent: false, errorMessage: text, cancelLabel: "Fix message" }]);
    assert.ok(calls[0].cancelLabel.length <= 20);
  });
}

test("an explanation longer than Outlook shows is cut to 500 characters", async () => {
  const net = fakeFetch(() => answer("block", "x".repeat(900)));
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
  assert.equal(calls[0].errorMessage.length, 500);
});

const FAILURES = [
  ["401", () => respond(401, { error: "unauthorized" }), "the service refused the add-in's key"],
  ["403", () => respond(403, { error: "origin" }), "the service refused the add-in's key"],
  ["500", () => respond(500, {}), "the service answered with an error"],
  ["503", () => respond(503, { error: "busy" }), "the service is busy"],
  ["network error", () => Promise.reject(new TypeError("Failed to fetch")), "the service cannot be reached"],
  ["unknown answer", () => respond(200, { action: "maybe" }), "the service answered with an error"],
];

for (const [name, reply, why] of FAILURES) {
  test(`${name}: the person is told the check could not run and may decide`, async () => {
    const net = fakeFetch(reply);
    const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
    assert.deepEqual(calls, [
      {
        allowEvent: false,
        errorMessage:
          `leakguard could not check this message (${why}). ` +
          "Send it only if you are sure it may leave as it is.",
        sendModeOverride: "promptUser",
      },
    ]);
  });
}

test("timeout: a service that never answers ends in the budget, once", async () => {
  let aborted = false;
  const net = fakeFetch(
    (request) =>
      new Promise((resolve, reject) => {
        request.init.signal.addEventListener("abort", () => {
          aborted = true;
          reject(new Error("aborted"));
        });
      })
  );
  const started = Date.now();
  const { calls } = await send(MESSAGE, {
    fetch: net.fetch,
    config: CONFIG,
    language: "fr-FR",
    settleMs: 400,
  });
  const took = Date.now() - started;
  assert.ok(took < 300 + 400 + 250, `took ${took} ms`);
  assert.equal(aborted, true);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].allowEvent, false);
  // Too slow, not unreachable: the service was reached and did not answer in time.
  assert.match(calls[0].errorMessage, /^leakguard n'a pas pu vérifier ce message \(la vérification a pris trop de temps\)/);
  assert.equal(calls[0].sendModeOverride, "promptUser");
});

test("a 503 of a check that ran out of time says it was too slow, not busy", async () => {
  const net = fakeFetch(() => respond(503, { error: "timeout", message: "The check did not finish in time." }));
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
  assert.match(calls[0].errorMessage, /\(the check took too long\)/);
});

test("Mailbox 1.12: the check could not run, and no Send anyway is promised", async () => {
  const net = fakeFetch(() => respond(503, { error: "busy" }));
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG, mailbox: 1.12, language: "fr-FR" });
  assert.deepEqual(calls, [
    {
      allowEvent: false,
      errorMessage:
        "leakguard n'a pas pu vérifier ce message (le service est surchargé). " +
        "Réessayez dans un instant ; si cela se répète, prévenez votre service informatique.",
    },
  ]);
  assert.doesNotMatch(calls[0].errorMessage, /quand même|anyway|seulement si/);
});

test("a failing Office call is reported, not passed", async () => {
  const net = fakeFetch(() => answer("allow", "Allowed"));
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG, failSubject: true });
  assert.equal(net.requests.length, 0);
  assert.equal(calls.length, 1);
  assert.match(calls[0].errorMessage, /\(the message could not be read\)/);
});

test("attachments: files in Base64, attached messages as EML, cloud links by name", async () => {
  const eml = "Subject: Arrêt de travail\r\n\r\nNIR 1 85 05 75 112 345 29 — ✓ 𝄞\r\n";
  const message = Object.assign({}, MESSAGE, {
    attachments: [
      { id: "a1", name: "bilan.pdf", contentType: "application/pdf", attachmentType: "file", isInline: false },
      { id: "a2", name: "certificat.eml", contentType: "message/rfc822", attachmentType: "item", isInline: false },
      { id: "a3", name: "radio.pdf", attachmentType: "cloud" },
      { id: "a4", name: "logo.png", contentType: "image/png", attachmentType: "file", isInline: true },
      { id: "a5", name: "rdv.ics", contentType: "text/calendar", attachmentType: "item", isInline: false },
    ],
    contents: {
      a1: { format: "base64", content: "JVBERi0xLjQK" },
      a2: { format: "eml", content: eml },
      a3: { format: "url", content: "https://cloud.example/radio.pdf" },
      a4: { format: "base64", content: "iVBORw0KGgo=" },
      a5: { format: "iCalendar", content: "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n" },
    },
  });
  const net = fakeFetch(() => answer("allow", "Allowed"));
  const { calls } = await send(message, { fetch: net.fetch, config: CONFIG });
  assert.deepEqual(calls, [{ allowEvent: true }]);
  const sent = net.requests[0].body.attachments;
  assert.deepEqual(sent, [
    { name: "bilan.pdf", content_type: "application/pdf", content_base64: "JVBERi0xLjQK" },
    { name: "certificat.eml", eml_base64: Buffer.from(eml, "utf8").toString("base64") },
    { name: "radio.pdf", url: "https://cloud.example/radio.pdf" },
    { name: "logo.png", content_type: "image/png", content_base64: "iVBORw0KGgo=", inline: true },
    {
      name: "rdv.ics",
      content_type: "text/calendar",
      content_base64: Buffer.from("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").toString("base64"),
    },
  ]);
});

test("the runtime page's address gives the service and the token when the script has none", async () => {
  const net = fakeFetch(() => answer("allow", "Allowed"));
  const { calls } = await send(MESSAGE, {
    fetch: net.fetch,
    location: { origin: "https://lg.clinique.test", search: "?token=from%2Bpage-0123456789" },
  });
  assert.deepEqual(calls, [{ allowEvent: true }]);
  assert.equal(net.requests[0].url, "https://lg.clinique.test/v1/check");
  assert.equal(net.requests[0].init.headers.Authorization, "Bearer from+page-0123456789");
});

test("classic Outlook: the script's own address (Mailbox 1.14) gives service and token", async () => {
  const net = fakeFetch(() => answer("allow", "Allowed"));
  const { calls } = await send(MESSAGE, {
    fetch: net.fetch,
    runtimeUrl: "https://lg.clinique.test:8443/addin/launchevent.js?token=abc%2Fdef-0123456789",
  });
  assert.deepEqual(calls, [{ allowEvent: true }]);
  assert.equal(net.requests[0].url, "https://lg.clinique.test:8443/v1/check");
  assert.equal(net.requests[0].headers.Authorization, "Bearer abc/def-0123456789");
});

test("no address and no token anywhere: the person is told, nothing is sent", async () => {
  const net = fakeFetch(() => respond(401, {}));
  const { calls } = await send(MESSAGE, { fetch: net.fetch });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].allowEvent, false);
  assert.match(calls[0].errorMessage, /could not check this message/);
});

test("an exception inside the handler still completes the event once", async () => {
  const { calls } = await send(
    Object.assign({}, MESSAGE, { to: null }),
    { fetch: () => { throw new Error("boom"); }, config: CONFIG }
  );
  assert.equal(calls.length, 1);
  assert.equal(calls[0].allowEvent, false);
});
