"use strict";
// The secure address the service proposes (national MSSanté directory) is shown first.
const test = require("node:test");
const assert = require("node:assert/strict");
const { send, fakeFetch, respond } = require("../testing/handler.js");

const CONFIG = { service: "https://leakguard.test:8443", token: "t0k3n-0123456789abcdef", budgetMs: 300 };
const MESSAGE = {
  to: [{ name: "Dr Jérôme Dupont", address: "jdupont@gmail.com" }],
  subject: "Compte rendu",
  body: "Bonjour, voici le compte rendu.",
};
const LONG = "Encrypt: this message may leave only encrypted. " + "x".repeat(600);

function answer(suggestions) {
  return respond(200, {
    action: "encrypt",
    findings: [],
    message: LONG,
    verdict_id: "v-1",
    suggestions: suggestions,
  });
}

test("one professional: the MSSanté address leads the text, before the 500-character cut", async () => {
  const net = fakeFetch(() =>
    answer([
      {
        recipient: "jdupont@gmail.com",
        address: "jerome.dupont@medecin.mssante.fr",
        name: "Dr Jérôme DUPONT",
        profession: "Médecin",
        count: 1,
      },
    ])
  );
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG, language: "fr-FR" });
  assert.equal(calls.length, 1);
  const text = calls[0].errorMessage;
  assert.equal(text.length, 500);
  assert.ok(
    text.startsWith(
      "Adresse sécurisée (MSSanté) de Dr Jérôme DUPONT (Médecin) : jerome.dupont@medecin.mssante.fr\nEncrypt:"
    ),
    text
  );
});

test("homonyms: one line for the recipient with the count, in English", async () => {
  const item = (address, profession) => ({
    recipient: "jdupont@gmail.com",
    address: address,
    name: "Jérôme DUPONT",
    profession: profession,
    count: 4,
  });
  const net = fakeFetch(() =>
    answer([item("a@medecin.mssante.fr", "Médecin"), item("b@infirmier.mssante.fr", "Infirmier")])
  );
  const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
  const first = calls[0].errorMessage.split("\n")[0];
  assert.equal(first, "4 professionals of this name have an MSSanté address, e.g. a@medecin.mssante.fr");
  assert.equal(calls[0].errorMessage.split("\n")[1].slice(0, 8), "Encrypt:");
});

test("no or malformed suggestions: the service's text alone", async () => {
  for (const odd of [undefined, null, "text", [null, {}, { recipient: "x" }]]) {
    const net = fakeFetch(() => answer(odd));
    const { calls } = await send(MESSAGE, { fetch: net.fetch, config: CONFIG });
    assert.equal(calls[0].errorMessage, LONG.slice(0, 500));
  }
});
