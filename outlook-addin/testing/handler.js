"use strict";
// Loads src/launchevent.js the way Outlook does: as one classic script (no module system),
// in a fresh global scope holding only what the runtime gives it.
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { OfficeMockObject } = require("office-addin-mock");

const SOURCE_PATH = path.join(__dirname, "..", "src", "launchevent.js");
const SOURCE = fs.readFileSync(SOURCE_PATH, "utf8");

function ok(value) {
  return { status: "succeeded", value: value };
}

/* An Office mock (office-addin-mock) for a message being composed. */
function mockOffice(message, options) {
  const opts = options || {};
  const handlers = {};
  const people = (list) => ({
    getAsync: (callback) =>
      callback(ok((list || []).map((p) => ({ displayName: p.name, emailAddress: p.address })))),
  });
  const failing = opts.failSubject;
  const data = {
    host: "outlook", // properties read as in Outlook: no load()/sync() needed
    context: {
      displayLanguage: opts.language || "en-US",
      urls: opts.runtimeUrl ? { javascriptRuntimeUrl: opts.runtimeUrl } : undefined,
      requirements: {
        isSetSupported: (name, version) =>
          name === "Mailbox" && Number(version) <= (opts.mailbox === undefined ? 1.14 : opts.mailbox),
      },
      mailbox: {
        item: {
          from: { getAsync: (callback) => callback(ok({ displayName: "Accueil", emailAddress: "accueil@clinique-exemple.fr" })) },
          to: people(message.to),
          cc: people(message.cc),
          bcc: people(message.bcc),
          subject: {
            getAsync: (callback) =>
              callback(failing ? { status: "failed", error: { code: 9000 } } : ok(message.subject || "")),
          },
          body: {
            getAsync: (coercion, callback) => {
              handlers.coercion = coercion;
              callback(ok(message.body || ""));
            },
          },
          getAttachmentsAsync: (callback) => callback(ok(message.attachments || [])),
          getAttachmentContentAsync: (id, callback) => callback(ok(message.contents[id])),
        },
      },
    },
    actions: {
      associate: (name, fn) => {
        handlers[name] = fn;
      },
    },
    MailboxEnums: { SendModeOverride: { PromptUser: "promptUser" } },
  };
  const office = new OfficeMockObject(data);
  return { office: office, handlers: handlers };
}

/* A fetch that records each request and answers with `reply(request)`. */
function fakeFetch(reply) {
  const requests = [];
  const fetch = (url, init) => {
    const request = { url: url, init: init, body: JSON.parse(init.body) };
    request.headers = JSON.parse(JSON.stringify(init.headers));
    requests.push(request);
    return reply(request);
  };
  return { fetch: fetch, requests: requests };
}

function respond(status, body) {
  return Promise.resolve({
    status: status,
    ok: status >= 200 && status < 300,
    json: () => Promise.resolve(body),
  });
}

/*
 * Run the handler for `message`; resolves with every argument event.completed received,
 * collected until `settleMs` after the first call (so a second call would be seen).
 */
function send(message, options) {
  const opts = options || {};
  const mock = mockOffice(message, opts);
  const sandbox = {
    Office: mock.office,
    fetch: opts.fetch,
    setTimeout: setTimeout,
    clearTimeout: clearTimeout,
    AbortController: AbortController,
    Promise: Promise,
    console: console,
  };
  if (opts.location) {
    sandbox.location = opts.location;
  }
  vm.createContext(sandbox);
  new vm.Script(SOURCE, { filename: "launchevent.js" }).runInContext(sandbox);
  if (opts.config) {
    vm.runInContext("LEAKGUARD_CONFIG = " + JSON.stringify(opts.config) + ";", sandbox);
  }
  const handler = mock.handlers.onMessageSendHandler;
  if (typeof handler !== "function") {
    throw new Error("the script did not associate onMessageSendHandler");
  }
  return new Promise((resolve) => {
    const calls = [];
    handler({
      completed: (outcome) => {
        // Objects made inside the script's realm: copy them into this one to compare.
        calls.push(JSON.parse(JSON.stringify(outcome)));
        if (calls.length === 1) {
          setTimeout(() => resolve({ calls: calls, handlers: mock.handlers }), opts.settleMs || 50);
        }
      },
    });
  });
}

module.exports = { SOURCE, send, fakeFetch, respond };
