"""``leakguard serve``: the real service on 127.0.0.1, asked by a real HTTP client."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import ssl as ssl_module
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import NIR, NIR_SPACED, RIB, make_nir
from leakguard import cli
from leakguard.guard import Guard
from leakguard.policy import Policy
from leakguard.recipients import Directory
from leakguard.serve import ServeConfig
from serve_helpers import (
    AUTH,
    TOKEN,
    free_port,
    leakguard_program,
    request_from_eml,
    running,
    self_signed,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.eml"))
SEEDS = sorted(p.parent for p in (ROOT / "seeds").glob("*/scenario.toml"))


def _cli_check(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    cli.main(["check", "--format", "json", *args])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return {Path(m["source"]).resolve(): m for m in doc["messages"]}


def _shape(findings: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    # Fingerprints are keyed per process: compare what a person would read instead.
    return sorted((f["kind"], f["location"], f.get("masked", "")) for f in findings)


def _same_as_check(base: str, path: Path, expected: dict[str, Any]) -> None:
    raw = path.read_bytes()
    with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
        as_eml = client.post("/v1/check", content=raw, headers={"Content-Type": "message/rfc822"})
        as_json = client.post("/v1/check", json=request_from_eml(raw))
    for answer in (as_eml, as_json):
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["action"] == expected["action"], (path.name, got["message"])
        assert _shape(got["findings"]) == _shape(expected["findings"]), path.name


def test_every_example_gets_the_action_leakguard_check_gives(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    options = ["--directory", "examples/colleagues.csv", "--internal-domain", "clinique-exemple.fr"]
    monkeypatch.chdir(ROOT)
    found = _cli_check([*options, "examples/"], capsys)
    # (the folder also holds examples/ci-policy, a mailing project's own messages)
    expected = {p: m for p, m in found.items() if p.parent == (ROOT / "examples").resolve()}
    assert len(expected) == len(EXAMPLES) >= 10
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    guard = Guard(policy, directory=Directory.load(ROOT / "examples/colleagues.csv"))
    with running(guard) as base:
        for path in EXAMPLES:
            _same_as_check(base, path, expected[path.resolve()])
    assert {"allow", "encrypt", "block"} <= {m["action"] for m in expected.values()}


@pytest.mark.parametrize("folder", SEEDS, ids=lambda p: p.name)
def test_every_seed_gets_the_action_leakguard_check_gives(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    policy_file = folder / "policy.toml"
    options = ["--policy", str(policy_file)] if policy_file.exists() else []
    message = folder / "message.eml"
    expected = _cli_check([*options, str(message)], capsys)[message.resolve()]
    guard = Guard(Policy.load(policy_file) if policy_file.exists() else Policy.default())
    with running(guard) as base:
        _same_as_check(base, message, expected)


# ------------------------------------------------------------------ refusals


@pytest.fixture(scope="module")
def base() -> Any:
    config = ServeConfig(
        token=TOKEN,
        allow_origins=("https://outlook.clinique-exemple.fr",),
        max_body_bytes=64 * 1024,
    )
    with running(Guard(), config) as url:
        yield url


def _raw(base: str, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send a request by hand and read the answer without sending the rest of the body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head_bytes, _, rest = data.partition(b"\r\n\r\n")
        lines = head_bytes.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest += s.recv(65536)
        return int(lines[0].split()[1]), headers, rest


def _head(*extra: str, length: int = 1_000_000) -> str:
    lines = [
        "POST /v1/check HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: message/rfc822",
        f"Content-Length: {length}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def test_no_token_is_refused_before_the_body_is_read(base: str) -> None:
    # The body is announced (1 MB) but never sent: an answer proves nothing waited for it.
    status, headers, body = _raw(base, _head(), b"To: x@")
    assert status == 401
    assert headers["www-authenticate"] == "Bearer"
    assert json.loads(body) == {
        "error": "unauthorized",
        "message": "A valid bearer token is required.",
    }


@pytest.mark.parametrize(
    "value", ["Bearer wrong-token-0123456789abc", f"Basic {TOKEN}", "Bearer", TOKEN]
)
def test_wrong_token_is_refused(base: str, value: str) -> None:
    status, _, _ = _raw(base, _head(f"Authorization: {value}"), b"To: x@")
    assert status == 401


def test_announced_size_over_the_limit_is_refused_before_reading(base: str) -> None:
    status, _, body = _raw(base, _head(f"Authorization: Bearer {TOKEN}"), b"To: x@")
    assert status == 413
    assert json.loads(body)["error"] == "too_large"


def test_streamed_body_over_the_limit_is_refused(base: str) -> None:
    sent: list[int] = []

    def chunks() -> Any:
        for _ in range(64):  # 64 x 4 KB = 256 KB, no Content-Length (chunked)
            sent.append(1)
            yield b"X-Filler: " + b"a" * 4084 + b"\r\n"

    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        answer = client.post(
            "/v1/check", content=chunks(), headers={"Content-Type": "message/rfc822"}
        )
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    """What a browser asks before a cross-origin POST with a token."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return client.options("/v1/check", headers=headers)


def test_other_origin_is_refused_and_listed_origin_allowed(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        other = client.post(
            "/v1/check",
            json={"to": []},
            headers={**AUTH, "Origin": "https://evil.example"},
        )
        assert other.status_code == 403
        assert "access-control-allow-origin" not in other.headers
        refused = _preflight(client, "https://evil.example")
        assert refused.status_code == 403  # as a POST from there: refused, not malformed
        assert refused.json()["error"] == "origin"
        assert "access-control-allow-origin" not in refused.headers
        preflight = _preflight(client, "https://outlook.clinique-exemple.fr")
        assert preflight.status_code == 200
        allowed = preflight.headers["access-control-allow-origin"]
        assert allowed == "https://outlook.clinique-exemple.fr"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        listed = client.post(
            "/v1/check",
            json={"to": [{"address": "a@b.fr"}]},
            headers={**AUTH, "Origin": "https://outlook.clinique-exemple.fr"},
        )
        assert listed.status_code == 200
        assert listed.headers["access-control-allow-origin"] == allowed
        same = client.post(
            "/v1/check",
            json={"to": [{"address": "a@b.fr"}]},
            headers={**AUTH, "Origin": base},
        )
        assert same.status_code == 200


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"to": [{"name": "x"}]}, "to.0.address", "Field required"),
        (
            {"attachments": [{"name": "a.pdf", "content_base64": "%%%"}]},
            "attachments.0.content_base64",
            "is not valid Base64",
        ),
        (
            {"attachments": [{"name": "a.pdf"}]},
            "attachments.0",
            "give exactly one of content_base64, eml_base64 or url",
        ),
        ({"lang": "de"}, "lang", "Input should be 'fr' or 'en'"),
        (
            {"subject": "Hi\r\nBcc: someone@else.example"},
            "subject",
            "must not contain line breaks or control characters",
        ),
        ({"too": []}, "too", "Extra inputs are not permitted"),
        ({"to": "a@b.fr"}, "to", "Input should be a valid array"),
    ],
)
def test_invalid_json_names_the_field(
    base: str, payload: dict[str, Any], field: str, message: str
) -> None:
    answer = httpx.post(f"{base}/v1/check", json=payload, headers=AUTH, timeout=30)
    assert answer.status_code == 422
    got = answer.json()
    assert got["field"] == field
    assert got["message"] == f"{field}: {message}"


@pytest.mark.parametrize(
    ("content", "ctype", "status", "error"),
    [
        (b'{"to": [', "application/json", 422, {"field": "body"}),
        (
            b"hello",
            "text/plain",
            415,
            {"field": "body", "message": "Send application/json or message/rfc822."},
        ),
    ],
)
def test_broken_json_and_unknown_content_type(
    base: str, content: bytes, ctype: str, status: int, error: dict[str, str]
) -> None:
    headers = {**AUTH, "Content-Type": ctype}
    answer = httpx.post(f"{base}/v1/check", content=content, headers=headers, timeout=30)
    assert answer.status_code == status
    assert error.items() <= answer.json().items()


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        # The NIR first, "Bonjour" last: a parser keeping the last value reads no NIR.
        (
            b'{"to": [{"address": "x@gmail.com"}], "body": {"text": "NIR %s", "text": "Bonjour"}}',
            '"text"',
        ),
        (b'{"to": [{"address": "x@gmail.com"}], "body": {"text": "x"}, "to": []}', '"to"'),
        (
            b'{"to": [{"address": "x@gmail.com"}], "body": {"text": "x"},'
            b' "attachments": [{"name": "a.txt", "content_base64": "TklS", "name": "b.txt"}]}',
            '"name"',
        ),
        (b'{"to": [{"address": "x@gmail.com"}], "%s": 1, "%s": 2}', "a field"),
    ],
    ids=["body-text", "to", "attachment-name", "unknown-name"],
)
def test_a_field_given_twice_is_refused_not_half_read(
    base: str, content: bytes, shown: str
) -> None:
    content = content.replace(b"%s", NIR.encode())
    headers = {**AUTH, "Content-Type": "application/json"}
    answer = httpx.post(f"{base}/v1/check", content=content, headers=headers, timeout=30)
    assert answer.status_code == 422
    got = answer.json()
    assert got["field"] == "body"
    assert got["message"] == f"body: {shown} is given twice in one object"
    # A name that is not one of the schema's is not repeated: it may be anything.
    assert NIR not in answer.text, "the answer repeats the client's field name"


def test_healthz_and_openapi(base: str) -> None:
    health = httpx.get(f"{base}/healthz", timeout=30)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    doc = httpx.get(f"{base}/openapi.json", timeout=30).json()
    post = doc["paths"]["/v1/check"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "message/rfc822"}
    schemas = doc["components"]["schemas"]
    assert {"CheckRequest", "CheckResponse", "Address", "Attachment"} <= set(schemas)
    assert "from" in schemas["CheckRequest"]["properties"]
    assert {"401", "413", "422"} <= set(post["responses"])


# ------------------------------------------------------------------ answers


def _clinic_message() -> dict[str, Any]:
    return {
        "from": {"name": "Secrétariat", "address": "secretariat@clinique-exemple.fr"},
        "to": [{"name": "Jean Patient", "address": "jean.patient@gmail.com"}],
        "subject": "Votre dossier sortie-zq81",
        "body": {"text": f"Bonjour, votre NIR {NIR_SPACED} et votre RIB {RIB}.", "html": None},
        "attachments": [],
        "lang": "fr",
    }


def test_answer_has_action_findings_message_and_verdict_id(base: str) -> None:
    answer = httpx.post(f"{base}/v1/check", json=_clinic_message(), headers=AUTH, timeout=30)
    assert answer.status_code == 200
    got = answer.json()
    assert set(got) == {"action", "findings", "message", "verdict_id", "unread"}
    assert got["unread"] == []
    assert got["action"] == "encrypt"
    assert {"nir", "rib", "unencrypted_sensitive"} <= {f["kind"] for f in got["findings"]}
    assert got["message"].startswith("Chiffrement requis")
    assert len(got["message"]) <= 500
    assert NIR not in answer.text


def test_message_stays_within_500_characters(base: str) -> None:
    many = ", ".join(make_nir(i) for i in range(40))
    request = {"to": [{"address": "x@gmail.com"}], "body": {"text": f"NIR : {many}"}}
    got = httpx.post(f"{base}/v1/check", json=request, headers=AUTH, timeout=30).json()
    assert len(got["findings"]) > 40
    assert len(got["message"]) <= 500
    assert got["message"].endswith("…")


def test_cloud_link_is_reported_not_passed(base: str) -> None:
    request = {
        "to": [{"address": "x@gmail.com"}],
        "body": {"text": "Voici le lien."},
        "attachments": [{"name": "bilan.pdf", "url": "https://cloud.example/bilan.pdf"}],
    }
    got = httpx.post(f"{base}/v1/check", json=request, headers=AUTH, timeout=30).json()
    assert got["action"] == "warn"
    assert [(f["kind"], f["location"]) for f in got["findings"]] == [
        ("unscannable_attachment", "attachment:bilan.pdf")
    ]


def test_inline_picture_is_not_a_document(base: str) -> None:
    logo = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    picture = {"name": "logo.png", "content_type": "image/png", "content_base64": logo}
    request = {"to": [{"address": "x@gmail.com"}], "body": {"text": "Bonjour"}}
    inline = httpx.post(
        f"{base}/v1/check",
        json={**request, "attachments": [{**picture, "inline": True}]},
        headers=AUTH,
        timeout=30,
    ).json()
    attached = httpx.post(
        f"{base}/v1/check", json={**request, "attachments": [picture]}, headers=AUTH, timeout=30
    ).json()
    assert inline["action"] == "allow"
    assert attached["action"] == "warn"  # a picture sent as a document cannot be read


def test_nothing_of_the_body_is_logged_and_audit_has_the_verdict_id(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = _clinic_message()
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        answers = [
            client.post("/v1/check", json=request),
            client.post(
                "/v1/check",
                content=b"To: jean.patient@gmail.com\r\nSubject: sortie-zq81\r\n\r\n"
                + f"NIR {NIR}\r\n".encode(),
                headers={"Content-Type": "message/rfc822"},
            ),
            client.post("/v1/check", json={**request, "lang": "xx"}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 422]
    # The checker process sends its records back through a queue: they may come a moment
    # after the answer, and a record of the previous test's checks may come now.
    ids = [a.json()["verdict_id"] for a in answers[:2]]
    for _ in range(100):
        audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "leakguard.audit"]
        audit = [a for a in audit if a["verdict_id"] in ids]
        if len(audit) >= len(ids):
            break
        time.sleep(0.02)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (NIR, NIR_SPACED, RIB.replace(" ", ""), RIB, "sortie-zq81", TOKEN):
        assert secret not in logged
    assert [a["verdict_id"] for a in audit] == ids
    assert audit[0]["action"] == "encrypt"


def test_addin_files_carry_the_token_only_for_its_holder(base: str) -> None:
    plain = httpx.get(f"{base}/addin/launchevent.js", timeout=30)
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    expected = json.dumps({"service": base, "token": ""})
    assert f"/*leakguard-config*/{expected}" in plain.text
    wrong = httpx.get(f"{base}/addin/launchevent.js?token=nope", timeout=30)
    assert TOKEN not in wrong.text
    right = httpx.get(f"{base}/addin/launchevent.js", params={"token": TOKEN}, timeout=30)
    assert json.dumps({"service": base, "token": TOKEN}) in right.text
    page = httpx.get(f"{base}/addin/commands.html", timeout=30)
    assert '<script src="launchevent.js"></script>' in page.text
    assert httpx.get(f"{base}/addin/icon-80.png", timeout=30).content.startswith(b"\x89PNG")
    for missing in ("manifest.xml", "..%2Fmanifest.xml", "nothing.js"):
        assert httpx.get(f"{base}/addin/{missing}", timeout=30).status_code == 404


# ------------------------------------------------------------------ load


class _SlowGuard(Guard):
    """A real guard that first waits: stands for a message that takes long to read."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def check(self, message: Any, /, **options: Any) -> Any:
        time.sleep(self.seconds)
        return super().check(message, **options)


def test_concurrency_is_bounded_and_a_hung_check_times_out() -> None:
    config = ServeConfig(token=TOKEN, max_concurrent=1, max_waiting=0, time_budget=0.2)
    assert config.deadline == pytest.approx(1.2)  # the budget and one second of grace
    with running(_SlowGuard(3.0), config) as url:
        answers: list[httpx.Response] = []

        def ask() -> None:
            answers.append(httpx.post(f"{url}/v1/check", json={"to": []}, headers=AUTH, timeout=30))

        first = threading.Thread(target=ask)
        first.start()
        time.sleep(0.5)
        ask()  # the only checker is busy and nothing may wait: refused at once
        first.join()
    statuses = sorted((a.status_code, a.json()["error"]) for a in answers)
    assert statuses == [(503, "busy"), (503, "timeout")]


# ------------------------------------------------------------------ the command


def test_serve_command_over_https_with_a_time_budget(tmp_path: Path) -> None:
    ssl = self_signed(tmp_path)
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "LANG": "fr_FR.UTF-8"}
    env.pop("LEAKGUARD_TOKEN", None)
    cmd = [
        leakguard_program(), "serve", "--port", str(port), "--token-file", str(tmp_path / "token"),
        "--certfile", ssl["certfile"], "--keyfile", ssl["keyfile"],
        "--time-budget", "0.000001",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"https://127.0.0.1:{port}"
        with httpx.Client(
            base_url=base,
            verify=ssl_module.create_default_context(cafile=ssl["certfile"]),
            timeout=30,
        ) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)
            raw = (ROOT / "examples/02-compte-rendu-pdf.eml").read_bytes()
            answer = client.post(
                "/v1/check",
                content=raw,
                headers={**AUTH, "Content-Type": "message/rfc822", "Accept-Language": "fr"},
            )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert f"https://127.0.0.1:{port}/v1/check" in out.decode()
    got = answer.json()
    if answer.status_code == 408:
        # The budget ran out while the body was still arriving: refused, in French.
        assert got["error"] == "slow_request"
        assert "pas arrivée dans le temps imparti" in got["message"]
        return
    assert answer.status_code == 200
    # The budget ran out before anything was read: the verdict says so, it does not hang.
    assert ("unscannable_attachment", "timeout") in {
        (f["kind"], f.get("detail")) for f in got["findings"]
    }
    assert got["action"] == "warn"
    assert "n'a pas pu être vérifié" in got["message"]
    log = err.decode()
    assert f'"verdict_id": "{got["verdict_id"]}"' in log
    assert TOKEN not in log


@pytest.mark.parametrize(
    ("args", "env_token", "message"),
    [
        (
            [],
            None,
            "a token of at least 16 characters is needed: --token-file FILE or the "
            "LEAKGUARD_TOKEN variable",
        ),
        ([], "short", "a token of at least 16 characters is needed"),
        (
            ["--host", "0.0.0.0"],
            TOKEN,
            "without --certfile the service listens on loopback only",
        ),
        (["--certfile", "cert.pem"], TOKEN, "give --certfile and --keyfile together"),
    ],
)
def test_serve_command_refuses_unsafe_settings(
    args: list[str],
    env_token: str | None,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LANG", "C")
    if env_token is None:
        monkeypatch.delenv("LEAKGUARD_TOKEN", raising=False)
    else:
        monkeypatch.setenv("LEAKGUARD_TOKEN", env_token)
    assert cli.main(["serve", "--port", str(free_port()), *args]) == 2
    assert message in capsys.readouterr().err


def test_an_eml_attachment_round_trips(base: str) -> None:
    inner = EmailMessage()
    inner["To"] = "dr@cabinet.fr"
    inner["Subject"] = "certificat"
    inner.set_content(f"Arrêt de travail, NIR {NIR_SPACED}")
    request = {
        "to": [{"address": "x@gmail.com"}],
        "attachments": [
            {"name": "fwd.eml", "eml_base64": base64.b64encode(inner.as_bytes()).decode()}
        ],
    }
    got = httpx.post(f"{base}/v1/check", json=request, headers=AUTH, timeout=30).json()
    kinds = {(f["kind"], f["location"]) for f in got["findings"]}
    assert ("nir", "attachment:fwd.eml") in kinds
    assert got["action"] == "encrypt"


def test_serve_without_the_extra_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "hypercorn", None)  # as if not installed
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.setenv("LEAKGUARD_TOKEN", TOKEN)
    assert cli.main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "leakguard : serve a besoin de l'extra serve : pip install 'leakguard[serve]'\n"
    )


def test_audit_context_adds_fields_inside_the_block_only() -> None:
    from leakguard.audit import audit_context, audit_record
    from leakguard.core import Action, Verdict

    verdict, msg = Verdict(action=Action.ALLOW), EmailMessage()
    with audit_context(verdict_id="v-1"):
        with audit_context(gateway="relay"):
            inner = audit_record(verdict, msg)
        outer = audit_record(verdict, msg)
    after = audit_record(verdict, msg)
    assert (inner["verdict_id"], inner["gateway"]) == ("v-1", "relay")
    assert outer["verdict_id"] == "v-1" and "gateway" not in outer
    assert "verdict_id" not in after


class _BrokenGuard(Guard):
    """A real guard that fails the way a bug would, quoting what it was reading."""

    def check(self, message: Any, /, **options: Any) -> Any:
        raise ValueError(f"cannot read NIR {NIR}")


def test_a_failing_check_answers_500_without_quoting_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with running(_BrokenGuard()) as url:
        answer = httpx.post(f"{url}/v1/check", json={"to": []}, headers=AUTH, timeout=30)
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal",
        "message": "The check failed; see the service's log.",
    }
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed: ValueError" in logged
    assert NIR not in logged and NIR not in answer.text


def test_serve_command_without_certificate_says_it_is_plain_http_on_loopback() -> None:
    port = free_port()
    env = {**os.environ, "LANG": "en_US.UTF-8", "LEAKGUARD_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [leakguard_program(), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline().decode() for _ in range(2)]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert first == [
        "Plain HTTP on loopback only: Outlook needs HTTPS (--certfile, --keyfile).\n",
        f"leakguard serve: http://127.0.0.1:{port}/v1/check\n",
    ]


@given(
    names=st.lists(st.text(min_size=1, max_size=300), max_size=30),
    lang=st.sampled_from(["fr", "en"]),
)
def test_person_message_is_the_head_and_whole_lines_within_500(names: list[str], lang: Any) -> None:
    from leakguard.core import Action, Finding, Location, Severity, Verdict
    from leakguard.serve._app import person_message

    findings = tuple(
        Finding(
            kind="unscannable_attachment",
            location=Location.attachment(n),
            severity=Severity.MEDIUM,
            detail="corrupt",
        )
        for n in names
    )
    verdict = Verdict(action=Action.WARN, findings=findings)
    text = person_message(verdict, lang)
    lines = list(dict.fromkeys(verdict.explain(lang).splitlines()))  # repeats said once
    unique = "\n".join(lines)
    assert len(text) <= 500
    assert text.startswith(lines[0][:499])
    if len(unique) <= 500:
        assert text == unique
    else:
        assert text.endswith("…")
        kept = text.removesuffix("…").splitlines()
        assert kept == lines[: len(kept)]


# ------------------------------------------------------------------ not a message


@pytest.mark.parametrize(
    ("content", "lang", "reason"),
    [
        (b"", "en", "not an e-mail message: it is empty."),
        (b"\x00\x01\x02\xff" * 64, "en", "not an e-mail message: it holds binary data."),
        (b"%PDF-1.7\n" + b"x" * 200, "fr", "ce n'est pas un message électronique : c'est un"),
    ],
    ids=["empty", "binary", "pdf-fr"],
)
def test_a_body_that_is_not_a_message_is_a_usage_error(
    base: str, content: bytes, lang: str, reason: str
) -> None:
    headers = {**AUTH, "Content-Type": "message/rfc822", "Accept-Language": lang}
    answer = httpx.post(f"{base}/v1/check", content=content, headers=headers, timeout=30)
    assert answer.status_code == 422
    got = answer.json()
    assert (got["error"], got["field"]) == ("not_a_message", "body")
    assert got["message"].startswith(reason), got["message"]


def test_refusals_speak_the_language_asked(base: str) -> None:
    answer = httpx.post(
        f"{base}/v1/check?lang=fr", content=b"x", headers={"Content-Type": "message/rfc822"}
    )
    assert answer.status_code == 401
    assert answer.json() == {
        "error": "unauthorized",
        "message": "Un jeton d'accès valide est requis.",
    }


# ------------------------------------------------------------------ fail closed


def test_what_was_not_read_is_never_allowed_and_is_named(tmp_path: Path) -> None:
    """A policy that lets unreadable attachments pass: the add-in still gets warn, and the
    answer says what was not read, first in the person's message."""
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('[actions]\nunscannable_attachment = "allow"\n', encoding="utf-8")
    guard = Guard(Policy.load(policy_file))
    request = {
        "to": [{"address": "dr.martin@cabinet-exemple.fr"}],
        "body": {"text": "Voici le bilan."},
        "attachments": [{"name": "bilan.pdf", "url": "https://cloud.example/bilan.pdf"}],
        "lang": "fr",
    }
    assert guard.check(b"To: a@b.fr\r\nSubject: x\r\n\r\nx").action.value == "allow"
    with running(guard) as url:
        got = httpx.post(f"{url}/v1/check", json=request, headers=AUTH, timeout=30).json()
    assert got["action"] == "warn"
    assert [(u["location"], u["detail"]) for u in got["unread"]] == [
        ("attachment:bilan.pdf", "unsupported")
    ]
    assert got["unread"][0]["message"] in got["message"]


def test_the_person_message_names_what_was_not_read_before_anything_else() -> None:
    from leakguard.core import Action, Finding, Location, Severity, Verdict
    from leakguard.serve._app import person_message

    many = [
        Finding(kind="nir", location=Location.body(), severity=Severity.HIGH, masked=f"m{i}")
        for i in range(40)
    ]
    unread = Finding(
        kind="unscannable_attachment",
        location=Location.attachment("scan.pdf"),
        severity=Severity.MEDIUM,
        detail="timeout",
    )
    verdict = Verdict(action=Action.ENCRYPT, findings=(*many, unread))
    text = person_message(verdict, "en")
    assert len(text) <= 500
    assert "scan.pdf" in text.splitlines()[1]


# ------------------------------------------------------------------ the command's errors


def _serve_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setenv("LEAKGUARD_TOKEN", TOKEN)
    capsys.readouterr()
    status = cli.main(["serve", *args])
    return status, capsys.readouterr().err


@pytest.mark.parametrize("lang", ["C", "fr_FR.UTF-8"])
def test_serve_with_a_file_that_is_not_a_certificate_says_so_in_one_line(
    lang: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LANG", lang)
    files = self_signed(tmp_path)
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not a certificate\n", encoding="utf-8")
    (tmp_path / "other").mkdir()
    other = self_signed(tmp_path / "other")  # a key that belongs to another certificate
    cases = [
        (["--certfile", str(wrong), "--keyfile", files["keyfile"]], str(wrong)),
        (["--certfile", str(tmp_path / "missing.pem"), "--keyfile", files["keyfile"]], "missing"),
        (["--certfile", files["certfile"], "--keyfile", str(wrong)], str(wrong)),
        (["--certfile", files["certfile"], "--keyfile", other["keyfile"]], other["keyfile"]),
    ]
    for args, named in cases:
        status, err = _serve_cli(["--port", str(free_port()), *args], monkeypatch, capsys)
        assert status == 2, err
        assert err.count("\n") == 1 and named in err, err
        assert "Traceback" not in err and "SSLError" not in err
        assert err.startswith("leakguard : " if lang.startswith("fr") else "leakguard: ")


def test_serve_on_a_port_in_use_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, err = _serve_cli(["--port", str(port)], monkeypatch, capsys)
    assert status == 2
    assert err == (
        f"leakguard : impossible d'écouter sur 127.0.0.1:{port} : le port {port} est déjà "
        "utilisé (un autre service, ou leakguard serve déjà lancé)\n"
    )


@pytest.mark.parametrize("budget", ["0", "-1", "13.5", "60"])
def test_serve_refuses_a_time_budget_the_addin_would_not_wait_for(
    budget: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANG", "C")
    status, err = _serve_cli(["--time-budget", budget], monkeypatch, capsys)
    assert status == 2
    assert err == (
        "leakguard: --time-budget must be more than 0 and at most 13 seconds: the add-in "
        "waits 15 s for the answer\n"
    )
