"use strict";
// The add-in in a real browser: Debian's Chromium (driven by playwright-core) loads the
// runtime page from a running `leakguard serve` over HTTPS, with a mocked Office object,
// and presses Send on messages that must be allowed, warned, encrypted and blocked.
const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync, spawn } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const https = require("node:https");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const ROOT = path.resolve(__dirname, "..", "..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TOKEN = crypto.randomBytes(18).toString("hex");

/* The leakguard program to start: LEAKGUARD_BIN when set, else the first `leakguard` on
   PATH (the active virtualenv's), else the repository's .venv. */
function leakguardProgram() {
  if (process.env.LEAKGUARD_BIN) {
    return process.env.LEAKGUARD_BIN;
  }
  const folders = (process.env.PATH || "").split(path.delimiter).filter(Boolean);
  for (const folder of [...folders, path.join(ROOT, ".venv", "bin")]) {
    const candidate = path.join(folder, "leakguard");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not there: the next folder
    }
  }
  throw new Error(
    "the leakguard program was not found: activate the virtualenv where leakguard is " +
      "installed (pip install -e '.[serve]'), or set LEAKGUARD_BIN to its path"
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = server.address().port;
      server.close(() => resolve(port));
    });
  });
}

/* A self-signed certificate for 127.0.0.1 made by openssl, and its key's SPKI hash. */
function certificate(folder) {
  const cert = path.join(folder, "cert.pem");
  const key = path.join(folder, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  const pem = fs.readFileSync(cert);
  const spki = new crypto.X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  return { cert, key, pem, spki: crypto.createHash("sha256").update(spki).digest("base64") };
}

function healthy(url, ca) {
  return new Promise((resolve) => {
    const req = https.get(url + "/healthz", { ca: ca, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

async function startService(folder) {
  const tls = certificate(folder);
  const port = await freePort();
  const output = [];
  const child = spawn(
    leakguardProgram(),
    [
      "serve", "--port", String(port), "--certfile", tls.cert, "--keyfile", tls.key,
      "--directory", path.join(ROOT, "examples", "colleagues.csv"),
      "--internal-domain", "clinique-exemple.fr",
    ],
    { env: Object.assign({}, process.env, { LEAKGUARD_TOKEN: TOKEN, LANG: "C.UTF-8" }) }
  );
  child.stdout.on("data", (d) => output.push(String(d)));
  child.stderr.on("data", (d) => output.push(String(d)));
  const url = "https://127.0.0.1:" + port;
  const deadline = Date.now() + 30000;
  while (!(await healthy(url, tls.pem))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill();
      throw new Error("leakguard serve did not start:\n" + output.join(""));
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { url, child, tls, output };
}

/* Office as the runtime page sees it; the test sets window.__message before each Send. */
function officeMock() {
  const handlers = {};
  const ok = (value) => ({ status: "succeeded", value: value });
  const people = (key) => ({
    getAsync: (cb) => cb(ok((window.__message[key] || []).map((p) => ({ displayName: p.name, emailAddress: p.address })))),
  });
  window.__handlers = handlers;
  window.Office = {
    context: {
      displayLanguage: "fr-FR",
      requirements: { isSetSupported: (name, version) => name === "Mailbox" && Number(version) <= 1.14 },
      mailbox: {
        item: {
          to: people("to"),
          cc: people("cc"),
          bcc: people("bcc"),
          subject: { getAsync: (cb) => cb(ok(window.__message.subject)) },
          body: { getAsync: (type, cb) => cb(ok(window.__message.body)) },
          getAttachmentsAsync: (cb) => cb(ok(window.__message.attachments || [])),
          getAttachmentContentAsync: (id, cb) => cb(ok(window.__message.contents[id])),
        },
      },
    },
    actions: { associate: (name, fn) => { handlers[name] = fn; } },
    MailboxEnums: { SendModeOverride: { PromptUser: "promptUser" } },
  };
}

/* Press Send: resolves with every call to event.completed (waits to see a second one). */
function pressSend(message) {
  return new Promise((resolve) => {
    window.__message = message;
    const calls = [];
    window.__handlers.onMessageSendHandler({
      completed: (outcome) => {
        calls.push(outcome);
        if (calls.length === 1) setTimeout(() => resolve(calls), 300);
      },
    });
  });
}

const NIR = "1 85 05 75 112 345 29";
const CASES = [
  {
    action: "allow",
    message: {
      to: [{ name: "Accueil", address: "accueil@clinique-exemple.fr" }],
      subject: "Réunion jeudi",
      body: "La réunion d'équipe est déplacée à 14 h.",
    },
    expect: (calls) => assert.deepEqual(calls, [{ allowEvent: true }]),
  },
  {
    action: "warn",
    message: {
      to: [{ name: "Marc Lecomte", address: "m.lecompte@gmail.com" }],
      subject: "Planning",
      body: "Voici le planning de la semaine.",
    },
    expect: (calls) => {
      assert.equal(calls.length, 1);
      assert.equal(calls[0].allowEvent, false);
      assert.equal(calls[0].sendModeOverride, "promptUser");
      assert.equal(calls[0].cancelLabel, "Vérifier");
      assert.match(calls[0].errorMessage, /^Attention/);
      assert.match(calls[0].errorMessage, /m\.lecomte@gmail\.com/);
    },
  },
  {
    action: "encrypt",
    message: {
      to: [{ name: "Jean Patient", address: "jean.patient@gmail.com" }],
      subject: "Votre attestation",
      body: "Bonjour, voici votre attestation.",
      attachments: [{ id: "a1", name: "attestation.txt", contentType: "text/plain", attachmentType: "file", isInline: false }],
      contents: { a1: { format: "base64", content: btoa("Attestation, NIR : " + "1 85 05 75 112 345 29") } },
    },
    expect: (calls) => {
      assert.equal(calls.length, 1);
      assert.equal(calls[0].allowEvent, false);
      assert.equal(calls[0].cancelLabel, "Corriger");
      assert.equal(calls[0].sendModeOverride, undefined);
      assert.match(calls[0].errorMessage, /^Chiffrement requis/);
      assert.match(calls[0].errorMessage, /attestation\.txt/);
    },
  },
  {
    action: "block",
    message: {
      to: [{ name: "Marc Lecomte", address: "m.lecompte@gmail.com" }],
      subject: "Bordereau",
      body: "Ci-joint le bordereau. NIR du patient : " + NIR + ". Diagnostic : diabète de type 2.",
    },
    expect: (calls) => {
      assert.equal(calls.length, 1);
      assert.equal(calls[0].allowEvent, false);
      assert.equal(calls[0].cancelLabel, "Corriger");
      assert.match(calls[0].errorMessage, /^Bloqué/);
      assert.ok(calls[0].errorMessage.length <= 500);
      assert.ok(!calls[0].errorMessage.includes("185057511234529"));
    },
  },
];

test("the add-in in Chromium, against leakguard serve over HTTPS", async (t) => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "leakguard-browser-"));
  const service = await startService(folder);
  const profile = path.join(folder, "profile");
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
        // Trust exactly the test's own certificate, nothing else.
        "--ignore-certificate-errors-spki-list=" + service.tls.spki,
      ],
    });
    const outside = [];
    // office.js comes from Microsoft's CDN in production; here the mock stands in for it
    // and no request may leave the machine.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(service.url + "/")) return route.continue();
      outside.push(url);
      if (url.endsWith("/office.js")) {
        return route.fulfill({ status: 200, contentType: "text/javascript", body: "/* replaced by the test's mock */" });
      }
      return route.abort();
    });
    await context.addInitScript(officeMock);
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const loaded = await page.goto(service.url + "/addin/commands.html?token=" + TOKEN);
    assert.equal(loaded.status(), 200);
    await page.waitForFunction(() => typeof window.__handlers.onMessageSendHandler === "function");

    for (const c of CASES) {
      await t.test(c.action, async () => {
        const calls = await page.evaluate(pressSend, c.message);
        c.expect(calls);
      });
    }

    await t.test("a wrong token: the person is told the check could not run", async () => {
      const wrong = await context.newPage();
      await wrong.goto(service.url + "/addin/commands.html?token=wrong-token-0123456789");
      await wrong.waitForFunction(() => typeof window.__handlers.onMessageSendHandler === "function");
      const calls = await wrong.evaluate(pressSend, CASES[0].message);
      assert.equal(calls.length, 1);
      assert.equal(calls[0].allowEvent, false);
      assert.equal(calls[0].sendModeOverride, "promptUser");
      assert.match(calls[0].errorMessage, /le service a refusé la clé du complément/);
    });

    assert.deepEqual(errors, []);
    assert.deepEqual([...new Set(outside)], ["https://appsforoffice.microsoft.com/lib/1/hosted/office.js"]);
    const log = service.output.join("");
    assert.ok(!log.includes("185057511234529") && !log.includes(NIR), "an identifier reached the log");
    assert.ok(!log.includes(TOKEN), "the token reached the log");
  } finally {
    if (context) await context.close();
    service.child.kill();
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
