"""Outlook items (``.msg``) and ``winmail.dat`` (TNEF): body, headers and attachments are
read, attached items too, under the limits; damaged ones are reported, never passed."""

from __future__ import annotations

import olefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docs_factory import SAMPLE_IBAN, SAMPLE_NIR, contains_value, make_docx, make_pdf, make_zip
from helpers import message
from leakguard.core import Action, Location
from leakguard.extract import Budget, Limits, Problem, TextChunk, extract, sniff
from leakguard.extract._mapi import lzfu_decompress
from leakguard.guard import Guard
from leakguard.policy import Policy
from outlook_factory import (
    MsgAttachment,
    OutlookItem,
    TnefAttachment,
    compound_file,
    compress_rtf,
    make_msg,
    make_tnef,
)

NIR, IBAN = SAMPLE_NIR, SAMPLE_IBAN


def run(data: bytes, name: str, limits: Limits | None = None) -> list[TextChunk | Problem]:
    budget = Budget(limits or Limits())
    return list(extract(data, Location.attachment(name), budget=budget, filename=name))


def texts(items: list[TextChunk | Problem]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in items:
        if isinstance(i, TextChunk):
            out[str(i.location)] = out.get(str(i.location), "") + "\n" + i.text
    return out


def problems(items: list[TextChunk | Problem]) -> list[tuple[str, str]]:
    return [(str(i.location), i.reason) for i in items if isinstance(i, Problem)]


# --------------------------------------------------------------------------- .msg


def test_compound_file_writer_is_read_back_by_olefile() -> None:
    big = bytes(range(256)) * 40  # over the mini-stream cutoff
    data = compound_file({"small": b"abc", "dir": {"big": big, "empty": b""}})
    ole = olefile.OleFileIO(data)
    assert ole.openstream("small").read() == b"abc"
    assert ole.openstream("dir/big").read() == big
    assert ole.openstream("dir/empty").read() == b""


def test_msg_body_headers_and_attachments_are_read() -> None:
    item = OutlookItem(
        subject="Arrêt de travail",
        body=f"Bonjour, le NIR est {NIR}.",
        headers="Received: from mx\r\nX-Dossier: 4521\r\n",
        to="Dr Martin",
        attachments=[
            MsgAttachment("bordereau.pdf", make_pdf([f"IBAN {IBAN}"])),
            MsgAttachment("lettre.docx", make_docx([f"NIR {NIR}"])),
        ],
    )
    data = make_msg(item)
    assert sniff(data, filename="x.bin") == "msg"
    found = texts(run(data, "mail.msg"))
    top = found["attachment:mail.msg"]
    assert contains_value(top, NIR) and "Arrêt de travail" in top and "X-Dossier" in top
    assert "Dr Martin" in top
    assert contains_value(found["attachment:mail.msg/bordereau.pdf"], IBAN)
    assert contains_value(found["attachment:mail.msg/lettre.docx"], NIR)


def test_msg_html_and_compressed_rtf_bodies() -> None:
    html = make_msg(OutlookItem(html=f"<html><body><p>NIR {NIR}</p></body></html>"))
    assert contains_value(texts(run(html, "h.msg"))["attachment:h.msg"], NIR)
    rtf = rb"{\rtf1\ansi{\fonttbl\f0 Arial;}\f0 Patient NIR " + NIR.encode() + rb"\par}"
    found = texts(run(make_msg(OutlookItem(rtf=rtf)), "r.msg"))
    assert contains_value(found["attachment:r.msg"], NIR)


def test_attached_outlook_items_are_read_recursively() -> None:
    inner = OutlookItem(
        subject="Résultats",
        body="voir pièce jointe",
        attachments=[MsgAttachment("analyse.pdf", make_pdf([f"NIR {NIR}"]))],
    )
    outer = OutlookItem(subject="Fwd", attachments=[MsgAttachment("Résultats", item=inner)])
    found = texts(run(make_msg(outer), "fwd.msg"))
    assert contains_value(found["attachment:fwd.msg/Résultats.msg/analyse.pdf"], NIR)
    assert "voir pièce jointe" in found["attachment:fwd.msg/Résultats.msg"]


def test_msg_depth_and_count_limits() -> None:
    item = OutlookItem(subject="s", body="b")
    for _ in range(3):
        item = OutlookItem(subject="fwd", attachments=[MsgAttachment("m", item=item)])
    items = run(make_msg(item), "deep.msg", Limits(max_depth=2))
    assert problems(items) == [("attachment:deep.msg/m.msg/m.msg/m.msg", "too_deep")]
    many = OutlookItem(attachments=[MsgAttachment(f"{i}.txt", b"x") for i in range(5)])
    items = run(make_msg(many), "many.msg", Limits(max_members=3))
    assert problems(items) == [("attachment:many.msg", "too_many_members")]


def test_msg_and_tnef_attachments_count_in_the_message_size() -> None:
    """Each attachment's bytes count in the message total: past it, the attachment is
    reported and the next ones are still tried."""
    big, small = b"a" * 3000, f"NIR {NIR}".encode()
    limits = Limits(max_total_bytes=4000)
    msg = OutlookItem(
        attachments=[
            MsgAttachment(n, d) for n, d in (("a.txt", big), ("b.txt", big), ("c.txt", small))
        ]
    )
    items = run(make_msg(msg), "m.msg", limits)
    assert problems(items) == [("attachment:m.msg/b.txt", "too_large")]
    assert contains_value(texts(items)["attachment:m.msg/c.txt"], NIR)
    tnef = make_tnef(
        attachments=[
            TnefAttachment(n, d) for n, d in (("a.txt", big), ("b.txt", big), ("c.txt", small))
        ]
    )
    items = run(tnef, "winmail.dat", limits)
    assert problems(items) == [("attachment:winmail.dat/b.txt", "too_large")]
    assert contains_value(texts(items)["attachment:winmail.dat/c.txt"], NIR)


def test_msg_in_a_zip_and_an_ole_file_that_is_no_msg() -> None:
    data = make_zip({"mail.msg": make_msg(OutlookItem(body=f"NIR {NIR}"))})
    assert contains_value(texts(run(data, "a.zip"))["attachment:a.zip/mail.msg"], NIR)
    assert sniff(compound_file({"WordDocument": b"x" * 100})) == "ole"


def test_damaged_msg_is_corrupt() -> None:
    data = make_msg(OutlookItem(body=f"NIR {NIR}"))
    # The FAT (last sector) cut off: the directory still says .msg, nothing else reads.
    assert problems(run(data[:-512], "cut.msg")) == [("attachment:cut.msg", "corrupt")]


def test_msg_attached_to_a_mail_needs_encryption() -> None:
    data = make_msg(OutlookItem(subject="Dossier", body=f"NIR {NIR}"))
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    verdict = Guard(policy).check(
        message(extra=[(data, "application", "vnd.ms-outlook", "dossier.msg")])
    )
    assert verdict.action is Action.ENCRYPT
    assert [str(f.location) for f in verdict.findings if f.kind == "nir"] == [
        "attachment:dossier.msg"
    ]


# --------------------------------------------------------------------------- TNEF


def test_winmail_dat_body_and_attachments() -> None:
    data = make_tnef(
        subject="Compte rendu",
        body=f"Patient né le 5/05/1985, NIR {NIR}",
        attachments=[
            TnefAttachment("ordonnance-longue.pdf", make_pdf([f"IBAN {IBAN}"])),
            TnefAttachment("notes.txt", f"NIR {NIR}".encode()),
        ],
    )
    assert sniff(data, filename="winmail.dat") == "tnef"
    found = texts(run(data, "winmail.dat"))
    assert contains_value(found["attachment:winmail.dat"], NIR)
    assert "Compte rendu" in found["attachment:winmail.dat"]
    assert "né le" in found["attachment:winmail.dat"]
    assert contains_value(found["attachment:winmail.dat/ordonnance-longue.pdf"], IBAN)
    assert contains_value(found["attachment:winmail.dat/notes.txt"], NIR)


def test_winmail_dat_compressed_rtf_body_and_attached_item() -> None:
    rtf = rb"{\rtf1\ansi\deff0 Arr\'eat de travail, NIR " + NIR.encode() + rb"\par}"
    inner = OutlookItem(
        subject="Résultats",
        body="analyse",
        attachments=[MsgAttachment("labo.txt", f"IBAN {IBAN}".encode())],
    )
    data = make_tnef(rtf=rtf, attachments=[TnefAttachment("Résultats", item=inner)])
    found = texts(run(data, "winmail.dat"))
    assert contains_value(found["attachment:winmail.dat"], NIR)
    assert "Arrêt de travail" in found["attachment:winmail.dat"]
    assert contains_value(found["attachment:winmail.dat/Résultats.msg/labo.txt"], IBAN)


def test_winmail_dat_damaged_is_corrupt() -> None:
    data = make_tnef(body=f"NIR {NIR}")
    assert problems(run(data[:30], "winmail.dat")) == [("attachment:winmail.dat", "corrupt")]


def test_winmail_dat_in_a_message_from_outlook() -> None:
    data = make_tnef(body="Bonjour", attachments=[TnefAttachment("scan.txt", NIR.encode())])
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    verdict = Guard(policy).check(message(extra=[(data, "application", "ms-tnef", "winmail.dat")]))
    assert verdict.action is Action.ENCRYPT
    assert [str(f.location) for f in verdict.findings if f.kind == "nir"] == [
        "attachment:winmail.dat/scan.txt"
    ]


@pytest.mark.parametrize("reference", [True, False])
def test_lzfu_round_trip(reference: bool) -> None:
    rtf = rb"{\rtf1\ansi Bonjour}"
    assert lzfu_decompress(compress_rtf(rtf, reference=reference), 10_000) == (rtf, None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.integers(0, 599), st.integers(0, 255))
def test_hostile_tnef_and_msg_never_crash(noise: bytes, where: int, byte: int) -> None:
    """Damaged or random Outlook data is read or reported, never raised."""
    tnef = bytearray(make_tnef(body="x", attachments=[TnefAttachment("a.txt", b"y")]))
    tnef[where % len(tnef)] = byte
    for data, name in ((bytes(tnef), "winmail.dat"), (b"\x78\x9f\x3e\x22" + noise, "w.dat")):
        for item in run(data, name):
            assert isinstance(item, TextChunk | Problem)
    msg = bytearray(make_msg(OutlookItem(body="x")))
    msg[512 + where * 7 % (len(msg) - 512)] = byte
    for item in run(bytes(msg), "m.msg"):
        assert isinstance(item, TextChunk | Problem)


def test_zip_of_msg_keeps_its_name() -> None:
    data = make_zip({"mail.msg": make_msg(OutlookItem(body="rien"))})
    assert problems(run(data, "a.zip")) == []
