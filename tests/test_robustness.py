"""Hostile and broken input: every case must finish in under 2 s and 200 MB, be reported
unscannable with the right reason, and leave the rest of the message scanned."""

from __future__ import annotations

import base64
import io
import random
import resource
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator

import pytest

from docs_factory import (
    SAMPLE_NIR,
    Attachment,
    contains_value,
    make_docx,
    make_eml,
    make_nested_zip,
    make_pdf,
    make_zip,
    write_zero_bomb,
)
from leakguard.core import Location
from leakguard.extract import Budget, Limits, Problem, TextChunk, extract
from leakguard.message import MAX_PARTS, iter_content, load_message

NIR = SAMPLE_NIR
# Generous for a loaded 2-core machine: the hostile inputs here took minutes before their
# bounds; an ordinary run takes well under a second.
MAX_SECONDS = 6.0
MAX_BYTES = 200 * 1024 * 1024

Items = list[TextChunk | Problem]


def measured(run: Callable[[], Iterator[TextChunk | Problem]]) -> Items:
    """Run a scan, asserting it stays within the time and memory bounds.

    The time is the processor time of a run of its own: tracing every allocation (the
    memory bound) makes a scan many times slower, and a busy machine stretches the wall
    clock; neither is the reader's cost.
    """
    started = time.process_time()
    items = list(run())
    elapsed = time.process_time() - started
    assert elapsed < MAX_SECONDS, f"took {elapsed:.2f} s"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        list(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert peak < MAX_BYTES, f"Python heap peaked at {peak / 2**20:.0f} MB"
    assert rss_growth < MAX_BYTES, f"resident memory grew by {rss_growth / 2**20:.0f} MB"
    return items


def doc(data: bytes, name: str, limits: Limits | None = None) -> Items:
    return measured(
        lambda: extract(
            data,
            Location.attachment(name),
            budget=Budget(limits or Limits()),
            filename=name,
        )
    )


def mail(raw: bytes, limits: Limits | None = None) -> Items:
    return measured(lambda: iter_content(load_message(raw), limits=limits))


def problems(items: Items) -> list[tuple[str, str]]:
    return [(p.location.where, p.reason) for p in items if isinstance(p, Problem)]


def found(items: Items, location: str) -> bool:
    text = "\n".join(
        i.text for i in items if isinstance(i, TextChunk) and i.location.where == location
    )
    return contains_value(text, NIR)


@pytest.fixture(scope="session")
def gigabyte_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A ZIP of about 1 MB whose one member inflates past 1 GB (written once, streamed)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    write_zero_bomb(path, (1 << 30) + (1 << 20))
    return path.read_bytes()


# --------------------------------------------------------------------------- documents


def test_truncated_pdf() -> None:
    pdf = make_pdf([f"NIR {NIR}"] * 40, pages=3)
    for cut in (len(pdf) // 3, len(pdf) // 2, len(pdf) - 40):
        assert problems(doc(pdf[:cut], "t.pdf")) == [("attachment:t.pdf", "corrupt")], cut


def test_garbage_pdf() -> None:
    garbage = b"%PDF-1.7\n" + bytes(range(256)) * 400 + b"\n%%EOF"
    assert problems(doc(garbage, "g.pdf")) == [("attachment:g.pdf", "corrupt")]


def test_corrupt_docx() -> None:
    good = make_docx([f"NIR {NIR}"] * 20)
    assert problems(doc(good[: len(good) // 2], "a.docx")) == [("attachment:a.docx", "corrupt")]
    # Bytes flipped inside the deflated document body: the CRC or inflate fails.
    start = good.index(b"word/document.xml") + len(b"word/document.xml") + 20
    damaged = bytes(b ^ 0xFF for b in good[start : start + 32])
    flipped = good[:start] + damaged + good[start + 32 :]
    assert problems(doc(flipped, "b.docx")) == [("attachment:b.docx", "corrupt")]
    fake = b"PK\x03\x04" + bytes(2000)
    assert problems(doc(fake, "c.docx")) == [("attachment:c.docx", "corrupt")]


def test_the_bomb_is_real(gigabyte_bomb: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(gigabyte_bomb)) as zf:
        (info,) = zf.infolist()
        assert info.file_size > 1 << 30 and info.compress_size < 2 << 20
        with zf.open(info) as stream:
            assert stream.read(16 << 20) == bytes(16 << 20)


def test_zip_member_expanding_past_one_gigabyte(gigabyte_bomb: bytes) -> None:
    items = doc(gigabyte_bomb, "bomb.zip")
    assert problems(items) == [("attachment:bomb.zip/zeros.bin", "compression_ratio")]


def test_zip_bomb_member_with_the_ratio_limit_left_open(gigabyte_bomb: bytes) -> None:
    # With the ratio check out of the way the size cap still stops it.
    items = doc(gigabyte_bomb, "bomb.zip", Limits(max_ratio=1e9))
    assert problems(items) == [("attachment:bomb.zip/zeros.bin", "too_large")]


def test_high_ratio_member_with_lowered_limits() -> None:
    small_bomb = make_zip({"zeros.txt": bytes(3 * 1024 * 1024)})
    items = doc(small_bomb, "s.zip", Limits(max_ratio=50))
    assert problems(items) == [("attachment:s.zip/zeros.txt", "compression_ratio")]
    noise = make_zip({"noise.bin": random.Random(7).randbytes(3 * 1024 * 1024)})
    items = doc(noise, "s.zip", Limits(max_total_bytes=2 * 1024 * 1024))
    assert problems(items) == [("attachment:s.zip/noise.bin", "too_large")]
    # A member whose recorded sizes lie is inflated for what it is, and caught by the
    # ratio while inflating (3 MB of zeros from 3 KB).
    lying = bytearray(small_bomb)
    central = lying.rfind(b"PK\x01\x02")
    lying[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    items = doc(bytes(lying), "l.zip")
    assert problems(items) == [("attachment:l.zip/zeros.txt", "compression_ratio")]


def test_twenty_levels_of_nested_zip() -> None:
    nested = make_nested_zip(20, {"deep.txt": NIR.encode()})
    items = doc(nested, "n.zip")
    assert [reason for _, reason in problems(items)] == ["too_deep"]
    where = problems(items)[0][0]
    assert where.count(".zip/") == Limits().max_depth + 1


def test_many_members_are_refused_cheaply() -> None:
    many = make_zip({f"f{i}.txt": b"" for i in range(3000)})
    items = doc(many, "m.zip")
    assert problems(items) == [("attachment:m.zip", "too_many_members")]


def test_time_budget_stops_the_scan() -> None:
    raw = make_eml(attachments=[Attachment(make_pdf([NIR]), f"a{i}.pdf") for i in range(5)])
    items = mail(raw, Limits(max_seconds=0.0))
    assert {reason for _, reason in problems(items)} == {"timeout"}


# --------------------------------------------------------------------------- messages


def _mime(parts: list[bytes]) -> bytes:
    body = b"".join(b"--bnd\r\n" + part + b"\r\n" for part in parts)
    return (
        b"From: a@hopital.example\r\nTo: b@ailleurs.example\r\nSubject: test\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="bnd"\r\n\r\n'
        + body
        + b"--bnd--\r\n"
    )


def _attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> bytes:
    return (
        f'Content-Type: {ctype}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'
    ).encode() + base64.encodebytes(data).replace(b"\n", b"\r\n")


def test_invalid_base64_body_and_attachment() -> None:
    good_text = base64.encodebytes(f"NIR {NIR}".encode())
    raw = _mime(
        [
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"!!!! this is *not* base64 at all ####\r\n",
            b'Content-Type: application/pdf; name="r.pdf"\r\nContent-Transfer-Encoding: base64'
            b'\r\nContent-Disposition: attachment; filename="r.pdf"\r\n\r\nJVBERi0x%%%%@@@@\r\n',
            b"Content-Type: text/plain; name=ok.txt\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=ok.txt\r\n\r\n" + good_text,
        ]
    )
    items = mail(raw)
    assert problems(items) == [("body", "corrupt"), ("attachment:r.pdf", "corrupt")]
    assert found(items, "attachment:ok.txt")


def test_a_100_kilobyte_header_line() -> None:
    long = "x" * 100_000
    raw = (
        f"From: a@hopital.example\r\nSubject: {long} {NIR}\r\nX-Long: {long}\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="bnd"; junk="{long}"\r\n\r\n'
    ).encode() + (
        b"--bnd\r\nContent-Type: text/plain\r\n\r\nbody\r\n--bnd\r\n"
        + _attachment("a" * 50_000 + ".txt", f"NIR {NIR}".encode(), "text/plain")
        + b"\r\n--bnd--\r\n"
    )
    items = mail(raw)
    assert found(items, "subject")
    assert problems(items) == []
    assert found(items, "attachment:" + "a" * 196 + ".txt"), [i.location.where[-30:] for i in items]


def _many_parts(count: int, nir_at: int) -> bytes:
    """A message of ``count`` empty text parts; part ``nir_at`` holds a NIR in clear and
    the last one a NIR in a Base64 attachment."""
    empty = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    clear = f"--b\r\nContent-Type: text/plain\r\n\r\nNIR {NIR}\r\n".encode()
    coded = b"--b\r\n" + _attachment("export.txt", f"NIR {NIR}".encode(), "text/plain")
    body = empty * nir_at + clear + empty * (count - nir_at - 2) + coded + b"\r\n--b--\r\n"
    head = b"From: a@clinique.fr\r\nTo: b@gmail.com\r\nMIME-Version: 1.0\r\n"
    return head + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + body


def test_a_message_of_more_parts_than_the_reader_builds_is_read_flat_and_reported() -> None:
    """A million empty parts took the parser 24 s and 760 MiB, in one step no
    deadline stops. Past MAX_PARTS the parts are not built: the text is read as one body
    (the NIR in clear is still found) and the message is reported not read."""
    raw = _many_parts(3 * MAX_PARTS, MAX_PARTS + 5)
    started = time.monotonic()
    items = mail(raw)
    took = time.monotonic() - started
    assert ("body", "too_large") in problems(items)
    assert found(items, "body")
    assert took < 10.0, took
    # Just below the bound, the parts are read one by one, the attachment decoded.
    items = mail(_many_parts(MAX_PARTS - 2, 10))
    assert problems(items) == []
    assert found(items, "attachment:export.txt")


def test_an_attached_message_of_too_many_parts_is_reported_where_it_lies() -> None:
    """The same message inside a ZIP: read flat and reported at its own place, not
    silently."""
    archive = make_zip({"m.eml": _many_parts(MAX_PARTS + 10, 5)})
    raw = _mime([_attachment("dossier.zip", archive, "application/zip")])
    assert ("attachment:dossier.zip/m.eml", "too_large") in problems(mail(raw))


def test_the_rest_of_the_message_is_scanned_after_bad_parts(gigabyte_bomb: bytes) -> None:
    pdf = make_pdf([f"NIR {NIR}"] * 10)
    raw = _mime(
        [
            _attachment("truncated.pdf", pdf[: len(pdf) // 2], "application/pdf"),
            _attachment("bomb.zip", gigabyte_bomb, "application/zip"),
            _attachment("broken.docx", b"PK\x03\x04" + bytes(500)),
            _attachment("deep.zip", make_nested_zip(20, {"x.txt": b"x"})),
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@\r\n",
            _attachment("good.pdf", pdf, "application/pdf"),
            b"Content-Type: text/plain; name=last.txt\r\n"
            b"Content-Disposition: attachment; filename=last.txt\r\n\r\nNIR " + NIR.encode(),
        ]
    )
    items = mail(raw)
    reasons = dict(problems(items))
    assert reasons["attachment:truncated.pdf"] == "corrupt"
    assert reasons["attachment:bomb.zip/zeros.bin"] == "compression_ratio"
    assert reasons["attachment:broken.docx"] == "corrupt"
    assert "too_deep" in reasons.values()
    assert reasons["body"] == "corrupt"
    assert found(items, "attachment:good.pdf"), "a good part after bad ones was not read"
    assert found(items, "attachment:last.txt"), "the last part was not read"


def test_multipart_nested_past_what_the_parser_copes_with() -> None:
    depth = 2000
    head = b"From: a@clinique.fr\r\nTo: b@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
        for i in range(depth)
    )
    closing = b"".join(f"--b{i}--\r\n".encode() for i in reversed(range(depth)))
    raw = head + opening + f"Content-Type: text/plain\r\n\r\nNIR {NIR}\r\n".encode() + closing
    msg = load_message(raw)
    assert msg["To"] == "b@example.org"  # the recipients survive for the guard
    items = mail(raw)
    assert ("body", "too_deep") in problems(items)
    assert found(items, "body")
