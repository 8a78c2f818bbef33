"""What is a message: read as mail readers read it, not refused. A first header line of
100 KB, lines of spaces or blank lines before the headers, binary (UTF-16) parts after
them; and Outlook items whose 8-bit strings are in their own code page. Documents,
binary files and empty files given to ``check`` are still refused."""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_helpers import run
from docs_factory import make_pdf
from helpers import NIR, NIR_SPACED, digits_of
from leakguard.core import Location
from leakguard.errors import InputError
from leakguard.extract import Budget, Limits, TextChunk, extract
from leakguard.guard import Guard
from leakguard.message import is_message, load_message, require_message
from outlook_factory import compound_file

HEAD = (
    b"From: Secretariat <secretariat@clinique-exemple.fr>\r\n"
    b"To: Paul Girard <paul.girard@example.org>\r\n"
    b"Subject: Dossier\r\n"
)
BODY = b"\r\nNIR du patient : " + NIR_SPACED.encode() + b"\r\n"


def _utf16_part(cte: bytes) -> bytes:
    text = ("Compte rendu\r\nNIR : " + NIR_SPACED + "\r\n").encode("utf-16")
    return (
        HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
        b"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCi-joint.\r\n"
        b"--BB\r\nContent-Type: text/plain; charset=utf-16\r\n"
        b"Content-Transfer-Encoding: " + cte + b"\r\n"
        b"Content-Disposition: attachment; filename=note.txt\r\n\r\n" + text + b"\r\n--BB--\r\n"
    )


READ_AS_MAIL = {
    "first-header-100kb-unknown-field": b"X-Trace: " + b"a" * 100_000 + b"\r\n" + HEAD + BODY,
    "first-header-100kb-received": b"Received: " + b"b " * 50_000 + b"\r\n" + HEAD + BODY,
    "folded-header-over-64kb": b"X-Trace: a\r\n" + b" b\r\n" * 30_000 + HEAD + BODY,
    "a-line-of-spaces-first": b"   \r\n" + HEAD + BODY,
    "a-tab-line-first": b"\t\r\n" + HEAD + BODY,
    "blank-lines-first": b"\r\n\r\n\n" + HEAD + BODY,
    "spaces-and-blank-lines-first": b" \n\n  \t \n" + HEAD + BODY,
    "byte-order-mark-then-blank-line": b"\xef\xbb\xbf\r\n" + HEAD + BODY,
    "utf16-part-binary": _utf16_part(b"binary"),
    "utf16-part-8bit": _utf16_part(b"8bit"),
    "utf16-body-after-the-headers": (
        HEAD
        + b"Content-Type: text/plain; charset=utf-16\r\n\r\n"
        + ("NIR : " + NIR_SPACED).encode("utf-16")
    ),
}


@pytest.mark.parametrize("name", sorted(READ_AS_MAIL))
def test_read_as_mail_and_its_numbers_judged(name: str) -> None:
    raw = READ_AS_MAIL[name]
    assert is_message(raw)
    require_message(raw)
    msg = load_message(raw)
    assert msg["To"] == "Paul Girard <paul.girard@example.org>"
    verdict = Guard().check(raw)
    assert "nir" in verdict.kinds()
    assert "unreadable_recipients" not in verdict.kinds()
    assert verdict.action.value == "encrypt"


def _attachment_after(head: bytes) -> bytes:
    note = base64.b64encode(("Compte rendu\r\nNIR : " + NIR_SPACED + "\r\n").encode())
    return (
        head + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
        b"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCi-joint.\r\n"
        b"--BB\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=note.txt\r\n\r\n" + note + b"\r\n--BB--\r\n"
    )


@pytest.mark.parametrize(
    "head",
    [
        HEAD.replace(b"Subject:", b"Subject :"),
        HEAD.replace(b"To:", b"To\t:"),
        b"X-Mailer : Logiciel de cabinet\r\n" + HEAD,
    ],
    ids=["subject", "to-with-a-tab", "first-field"],
)
def test_a_blank_before_a_colon_hides_no_field_and_no_attachment(head: bytes) -> None:
    # RFC 5322's obsolete syntax, read as a field by Postfix and mail clients: the
    # fields after it and the attachment are read, not taken for one plain body.
    raw = _attachment_after(head)
    msg = load_message(raw)
    assert msg["Subject"] == "Dossier" and msg.get_content_type() == "multipart/mixed"
    verdict = Guard().check(raw)
    assert [str(f.location) for f in verdict.findings if f.kind == "nir"] == ["attachment:note.txt"]
    assert "unreadable_recipients" not in verdict.kinds()
    assert verdict.action.value == "encrypt"


@pytest.mark.parametrize(
    "name", ["a-line-of-spaces-first", "blank-lines-first", "utf16-part-binary"]
)
def test_check_on_the_command_line_judges_them(
    name: str, tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{name}.eml"  # type: ignore[operator]
    path.write_bytes(READ_AS_MAIL[name])
    code, out, _ = run(capsys, "--lang", "en", "check", "-j1", str(path))
    assert code == 1, out
    assert out.startswith(f"{path}: ENCRYPT\n")


REFUSED = {
    "empty": (b"", "it is empty"),
    "spaces-only": (b"  \r\n\t\r\n \n", "it is empty"),
    "pdf": (make_pdf(["NIR " + NIR]), "it is a PDF document"),
    "binary": (bytes(range(256)) * 8, "it holds binary data"),
    "csv": (b"email,name\r\na@example.org,A\r\n", "it does not start with mail headers"),
    "nul-in-a-header": (b"From: a\x00b@example.org\r\nTo: x@example.org\r\n\r\nx", "binary data"),
    # Lines of spaces before a document do not make it a message.
    "spaces-then-csv": (b"\r\n  \r\nemail,name\r\n", "it does not start with mail headers"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_documents_binary_and_empty_files_are_still_refused(name: str) -> None:
    raw, why = REFUSED[name]
    assert not is_message(raw)
    with pytest.raises(InputError) as caught:
        require_message(raw)
    assert why in str(caught.value)


@given(st.binary(max_size=400), st.integers(0, 4))
def test_is_message_never_raises_and_agrees_with_require(data: bytes, blanks: int) -> None:
    raw = b" \r\n" * blanks + data
    answer = is_message(raw)
    try:
        require_message(raw)
    except InputError:
        assert not answer
    else:
        assert answer


# --------------------------------------------------------------------------- .msg code pages


def _property_stream(header: int, longs: dict[int, int]) -> bytes:
    entries = b"".join(
        struct.pack("<HHII", 0x0003, ident, 6, value) + bytes(4) for ident, value in longs.items()
    )
    return bytes(header) + entries


def _msg8(
    subject: str, body: str, codepage: int, *, prop: int = 0x3FFD, attach: str = "", inner=None
) -> dict[str, object]:
    """An Outlook item whose strings are 8-bit (PT_STRING8) in ``codepage``."""
    tree: dict[str, object] = {
        "__properties_version1.0": _property_stream(32, {prop: codepage} if codepage else {}),
        "__substg1.0_0037001E": subject.encode(f"cp{codepage or 1252}") + b"\x00",
        "__substg1.0_1000001E": body.encode(f"cp{codepage or 1252}") + b"\x00",
    }
    if attach:
        tree["__attach_version1.0_#00000000"] = {
            "__properties_version1.0": bytes(8),
            "__substg1.0_3707001E": attach.encode(f"cp{codepage or 1252}") + b"\x00",
            "__substg1.0_37010102": b"NIR " + NIR.encode() + b"\r\n",
        }
    if inner is not None:
        inner = dict(inner)
        inner["__properties_version1.0"] = b"\x00" * 24 + inner["__properties_version1.0"][32:]
        tree["__attach_version1.0_#00000001"] = {
            "__properties_version1.0": bytes(8),
            "__substg1.0_3001001F": "Transfert".encode("utf-16-le"),
            "__substg1.0_3701000D": inner,
        }
    return tree


def _texts(tree: dict[str, object]) -> dict[str, str]:
    data = compound_file(tree)  # type: ignore[arg-type]
    out: dict[str, str] = {}
    items = extract(data, Location.attachment("m.msg"), budget=Budget(Limits()), filename="m.msg")
    for item in items:
        if isinstance(item, TextChunk):
            out[str(item.location)] = out.get(str(item.location), "") + item.text
    return out


JAPANESE_SUBJECT = "診療情報提供書"
JAPANESE_BODY = "患者様の検査結果をお送りします。NIR " + NIR_SPACED


@pytest.mark.parametrize("prop", [0x3FFD, 0x3FDE], ids=["message-codepage", "internet-cpid"])
def test_an_outlook_item_in_code_page_932_reads_in_japanese(prop: int) -> None:
    found = _texts(_msg8(JAPANESE_SUBJECT, JAPANESE_BODY, 932, prop=prop, attach="結果.txt"))
    text = found["attachment:m.msg"]
    assert JAPANESE_SUBJECT in text and "患者様の検査結果" in text
    assert digits_of(NIR_SPACED) in digits_of(text)
    assert "attachment:m.msg/結果.txt" in found  # the attachment's name, in the item's code page


def test_an_attached_item_has_its_own_code_page() -> None:
    inner = _msg8("Привет", "Анализы пациента", 1251)
    outer = _msg8(JAPANESE_SUBJECT, "転送します", 932, inner=inner)
    found = _texts(outer)
    assert JAPANESE_SUBJECT in found["attachment:m.msg"]
    assert "Анализы пациента" in found["attachment:m.msg/Transfert.msg"]


def test_without_a_code_page_8bit_strings_stay_windows_1252() -> None:
    found = _texts(_msg8("Résultats", "Données de santé", 0))
    assert "Résultats" in found["attachment:m.msg"]
    assert "Données de santé" in found["attachment:m.msg"]
