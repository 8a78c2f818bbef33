"""A file's name leaves with it and is shown to whoever receives or opens it: a NIR in an
attachment's name, an archive member's path or an embedded file's name is found at
that file's place, masked there like any location."""

from __future__ import annotations

import base64
import binascii
import io
import json
import tarfile
from email.message import EmailMessage

from docs_factory import make_zip
from helpers import NIR, NIR_SPACED
from leakguard.core import Finding, Fingerprinter, Location
from leakguard.guard import scan

FP = Fingerprinter(b"n" * 32)
PLAIN = next(f.fingerprint for f in scan(f"Subject: x\n\nNIR {NIR}\n".encode(), fingerprinter=FP))


def _mail(*attachments: tuple[bytes, str, str], body: str = "Bonjour.\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "secretariat@clinique-exemple.fr"
    msg["To"] = "cabinet@gmail.com"
    msg["Subject"] = "Documents"
    msg.set_content(body)
    for data, ctype, name in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def _nirs(msg: EmailMessage) -> list[Finding]:
    return [f for f in scan(msg.as_bytes(), fingerprinter=FP) if f.kind == "nir"]


def test_an_attachment_named_with_a_nir() -> None:
    found = _nirs(_mail((b"rien", "application/octet-stream", f"compte rendu {NIR_SPACED}.pdf")))
    assert [f.fingerprint for f in found] == [PLAIN]
    # Its place names the file with the number masked, in the text and the JSON.
    where = str(found[0].location)
    assert where.startswith("attachment:compte rendu ") and where.endswith(".pdf")
    in_clear = NIR in json.dumps([f.to_dict() for f in found]).replace(" ", "")
    assert not in_clear, "the NIR is in clear in the JSON"


def test_the_name_and_the_content_holding_the_same_nir_are_one_finding() -> None:
    found = _nirs(_mail((f"NIR {NIR}".encode(), "text/plain", f"{NIR}.txt")))
    assert [f.fingerprint for f in found] == [PLAIN]


def test_archive_members_and_their_folders_are_read_by_name() -> None:
    archive = make_zip({f"patient {NIR_SPACED}.txt": b"rien", f"{NIR}/scan.txt": b"rien"})
    found = _nirs(_mail((archive, "application/zip", "documents.zip")))
    assert sorted(str(f.location).split("/")[-1] for f in found) == [
        "patient * ** ** ** *** *** **.txt",
        "scan.txt",
    ]
    assert {f.fingerprint for f in found} == {PLAIN}
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        info = tarfile.TarInfo(f"dossiers/{NIR}.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"rien"))
    found = _nirs(_mail((tar.getvalue(), "application/x-tar", "dossiers.tar")))
    assert [f.fingerprint for f in found] == [PLAIN]
    assert str(found[0].location).startswith("attachment:dossiers.tar/dossiers/")


def test_an_attached_message_and_a_uuencoded_file_are_read_by_name() -> None:
    inner = _mail(body="Rien de particulier.\n")
    msg = _mail()
    msg.add_attachment(inner, filename=f"message {NIR}.eml")
    assert [f.fingerprint for f in _nirs(msg)] == [PLAIN]
    uu = binascii.b2a_uu(b"rien").decode()
    body = f"Voici le fichier.\nbegin 644 patient-{NIR}.txt\n{uu}`\nend\n"
    # Found in the body's text, and at the file's own place, where a mail program shows it.
    found = {str(f.location): f.fingerprint for f in _nirs(_mail(body=body))}
    assert found == {"body": PLAIN, "attachment:patient-***************.txt": PLAIN}


def test_a_file_name_with_ordinary_numbers_is_no_finding() -> None:
    names = ["Facture 2024-00123.pdf", "scan 20240312 153045.jpg", "IMG_4821.png"]
    msg = _mail(*[(base64.b64encode(b"rien"), "application/octet-stream", n) for n in names])
    assert _nirs(msg) == []


def test_the_location_of_a_name_is_the_files_place() -> None:
    archive = make_zip({f"{NIR}.txt": b"rien"})
    (found,) = _nirs(_mail((archive, "application/zip", "a.zip")))
    same = found.location == Location.attachment("a.zip").child(f"{NIR}.txt")
    assert same, "the finding is not at the member's place"


def test_the_content_types_name_is_read_when_it_differs_from_the_filename() -> None:
    # Mail readers show Content-Disposition's filename or Content-Type's name: a liar
    # gives a harmless filename and the patient's number as the other name.
    msg = _mail((b"rien", "application/octet-stream", "document.pdf"))
    attachment = msg.get_payload()[1]
    attachment.set_param("name", f"compte rendu {NIR_SPACED}.pdf")
    (found,) = _nirs(msg)
    assert found.fingerprint == PLAIN
    assert found.location == Location.attachment("document.pdf")


def test_a_name_given_only_by_the_content_type_names_the_file() -> None:
    msg = _mail()
    msg.add_attachment(b"rien", maintype="application", subtype="octet-stream")
    attachment = msg.get_payload()[1]
    attachment.set_param("name", f"{NIR}.pdf")
    del attachment["Content-Disposition"]
    (found,) = _nirs(msg)
    assert str(found.location).startswith("attachment:") and NIR not in str(found.location)


def test_an_encoded_name_and_an_empty_filename() -> None:
    # RFC 2231 and encoded words in either parameter; an empty filename gives the floor
    # to the other name.
    msg = _mail()
    msg.add_attachment(b"rien", maintype="application", subtype="octet-stream")
    attachment = msg.get_payload()[1]
    del attachment["Content-Disposition"]
    attachment["Content-Disposition"] = 'attachment; filename=""'
    attachment.set_param("name", f"=?utf-8?q?dossier_{NIR}?=.pdf")
    (found,) = _nirs(msg)
    assert found.fingerprint == PLAIN
