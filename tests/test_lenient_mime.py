"""A blank before the colon of a MIME part's header field (at any depth, in forwarded
messages too), which mail clients forgive: the part is read as they read it, so a NIR
it carries is found through the library and through ``leakguard check``."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakguard import Guard
from leakguard.core import Action
from mime_liars import NIR, assert_caught, b64, multipart, nir_found

# --------------------------------------------------------------------------- part headers

TEXT = f"Numéro de sécurité sociale : {NIR}\n"


BLANK_PART_HEADERS = {
    "type and encoding": multipart(
        b"Content-Type : text/plain\nContent-Transfer-Encoding : base64\n", b64(TEXT)
    ),
    "encoding only": multipart(
        b"Content-Type: text/plain\nContent-Transfer-Encoding : base64\n", b64(TEXT)
    ),
    "tab, odd case": multipart(
        b"content-TYPE\t: TEXT/PLAIN\nCONTENT-transfer-encoding \t: BASE64\n", b64(TEXT)
    ),
    "named attachment": multipart(
        b"Content-Type : text/csv; name=patients.csv\n"
        b"Content-Disposition : attachment; filename=patients.csv\n"
        b"Content-Transfer-Encoding : base64\n",
        b64(f"nom;nir\nDurand;{NIR}\n"),
    ),
    "nested multipart": multipart(
        b"Content-Type : multipart/alternative; boundary=YY\n",
        b"--YY\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
        + b64(TEXT)
        + b"--YY--\n",
    ),
    "forwarded 7-bit message": multipart(
        b"Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n",
        b"From: carol@hopital.example\nSubject: Fwd\nMIME-Version: 1.0\n"
        b"Content-Type : text/plain\nContent-Transfer-Encoding : base64\n\n" + b64(TEXT),
    ),
    "forwarded multipart message": multipart(
        b"Content-Type: message/rfc822\n",
        b"From: carol@hopital.example\nSubject: Fwd\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=ZZ\n\n--ZZ\n"
        b"Content-Type : application/octet-stream; name=note.txt\n"
        b"Content-Transfer-Encoding : base64\n\n" + b64(TEXT) + b"--ZZ--\n",
    ),
    "the rfc822 part's own header": multipart(
        b"Content-Type : message/rfc822\nContent-Transfer-Encoding : base64\n",
        base64.encodebytes(
            b"From: carol@hopital.example\nSubject: Fwd\nContent-Type: text/plain\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64(TEXT)
        ),
    ),
}


@pytest.mark.parametrize("raw", BLANK_PART_HEADERS.values(), ids=BLANK_PART_HEADERS.keys())
def test_a_blank_before_a_part_headers_colon_hides_nothing(
    raw: bytes, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_caught(raw, capsys, tmp_path)


def test_a_field_recovered_from_a_parts_body_is_still_read() -> None:
    # Before the fix the line was read as the part's text; a client takes it for a field
    # and hides it, but its bytes travel all the same.
    raw = multipart(b"Content-Type: text/plain\nX-Note : " + NIR.encode() + b"\n", b"Bonjour")
    action, found = nir_found(raw)
    assert action is not Action.ALLOW and ("nir", "body") in found, found
    # A generated routing field is no one's content, as in the message's own header.
    digits = NIR.replace(" ", "")
    raw = multipart(b"Content-Type: text/plain\nMessage-ID : <" + digits.encode() + b"@x>\n", b"")
    assert nir_found(raw)[1] == [], "a part's Message-ID read as content"


_MIME_FIELDS = [
    ("Content-Type", "text/plain; name=note.txt"),
    ("Content-Disposition", "attachment; filename=note.txt"),
    ("Content-Transfer-Encoding", "base64"),
]


def _written(name: str, blank: str, upper: list[bool]) -> str:
    cased = "".join(c.upper() if up else c.lower() for c, up in zip(name, upper, strict=False))
    return f"{cased}{blank}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blanks=st.lists(st.sampled_from(["", " ", "\t", "  ", " \t"]), min_size=3, max_size=3),
    upper=st.lists(st.booleans(), min_size=25, max_size=25),
    order=st.permutations(range(3)),
    forwarded=st.booleans(),
)
def test_blanks_before_a_part_headers_colon_change_no_finding(
    blanks: list[str], upper: list[bool], order: list[int], forwarded: bool
) -> None:
    """Whatever blanks (or letter case) a part's MIME fields are written with, the
    findings are those of the well-written part."""

    def build(spell: bool) -> bytes:
        lines = b""
        for i in order:
            name, value = _MIME_FIELDS[i]
            shown = _written(name, blanks[i], upper) if spell else name
            lines += f"{shown}: {value}\n".encode()
        if not forwarded:
            return multipart(lines, b64(TEXT))
        inner = b"From: carol@hopital.example\nSubject: Fwd\nMIME-Version: 1.0\n"
        inner += b"Content-Type: multipart/mixed; boundary=ZZ\n\n--ZZ\n" + lines + b"\n"
        return multipart(b"Content-Type: message/rfc822\n", inner + b64(TEXT) + b"--ZZ--\n")

    plain = nir_found(build(False))
    where = "attachment:part-2.eml/note.txt" if forwarded else "attachment:note.txt"
    assert ("nir", where) in plain[1], plain
    assert nir_found(build(True)) == plain


def test_parts_each_hiding_the_next_cost_linear_time_and_fail_closed() -> None:
    # Each repair re-parses what the part holds: a chain of them would cost the square
    # of the message's size. Past a few times its size the rest is reported, not read.
    levels, pad = 60, b"x" * 200_000
    inner = b"Content-Type: text/plain\nContent-Transfer-Encoding : base64\n\n" + b64(TEXT)
    for i in range(levels):
        bd = b"b%d" % i
        inner = (
            b"X-Level : " + bd + b"\nContent-Type: multipart/mixed; boundary=" + bd + b"\n\n"
            b"--" + bd + b"\nContent-Type: text/plain\n\n" + pad + b"\n--" + bd + b"\n"
            + inner + b"\n--" + bd + b"--\n"
        )  # fmt: skip
    raw = multipart(b"Content-Type: message/rfc822\n", b"Subject: s\n" + inner)
    started = time.perf_counter()
    verdict = Guard().check(raw)
    elapsed = time.perf_counter() - started
    kinds = {(f.kind, f.detail) for f in verdict.findings}
    assert verdict.action is not Action.ALLOW
    assert ("unscannable_attachment", "corrupt") in kinds or ("nir", None) in kinds, kinds
    assert elapsed < 30, f"{elapsed:.1f}s for a {len(raw) // 1_000_000} MB message"
