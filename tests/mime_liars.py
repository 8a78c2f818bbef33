"""Messages that lie by their syntax, and how a test says the guard saw through them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cli_helpers import run
from docs_factory import compact, mask
from leakguard import Guard
from leakguard.core import Action

NIR = "2 95 10 99 126 111 93"  # a valid NIR (born abroad) from the identifier rules
HEAD = b"From: alice@hopital.example\nTo: bob@partenaire.example\nSubject: Dossier\n"


def b64(text: str, charset: str = "utf-8") -> bytes:
    return base64.encodebytes(text.encode(charset))


def nir_found(raw: bytes) -> tuple[Action, list[tuple[str, str]]]:
    verdict = Guard().check(raw)
    return verdict.action, [(f.kind, f.location.where) for f in verdict.findings]


def assert_caught(raw: bytes, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The NIR in ``raw`` is found by ``Guard.check`` and by ``leakguard check``."""
    action, found = nir_found(raw)
    assert action is not Action.ALLOW, f"NIR {mask(NIR)} passed: {found}"
    assert any(kind == "nir" for kind, _ in found), f"NIR {mask(NIR)} not found: {found}"
    path = tmp_path / "liar.eml"
    path.write_bytes(raw)
    code, out, _ = run(capsys, "check", "--format", "json", str(path))
    (verdict,) = json.loads(out)["messages"]
    assert code != 0 and verdict["action"] != "allow", f"NIR {mask(NIR)} passed the CLI"
    assert "nir" in [f["kind"] for f in verdict["findings"]]
    assert compact(NIR) not in compact(out)


def multipart(part_head: bytes, part_body: bytes, boundary: bytes = b"XX") -> bytes:
    return (
        HEAD
        + b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="
        + boundary
        + b"\n\n--"
        + boundary
        + b"\nContent-Type: text/plain; charset=utf-8\n\nBonjour,\n--"
        + boundary
        + b"\n"
        + part_head
        + b"\n"
        + part_body
        + b"\n--"
        + boundary
        + b"--\n"
    )
