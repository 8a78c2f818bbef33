"""Small builders shared by the guard, CLI and SMTP tests: valid numbers and messages."""

from __future__ import annotations

import re
from email.message import EmailMessage

from docs_factory import make_pdf
from leakguard.detectors import nir as nir_mod

# Checked examples of each identifier (rules in docs/content.md and the detector modules).
NIR = "185057511234529"
NIR_SPACED = "1 85 05 75 112 345 29"
RIB = "30006 00001 12345678901 89"
IBAN = "FR76 3000 6000 0112 3456 7890 189"
NISS = "85073003328"
NAM = "TREM 5211 2512"
SIN = "130 692 544"


def make_nir(i: int) -> str:
    """The i-th of many distinct valid NIRs (born in Paris, 1950–1999)."""
    first = (
        f"{1 + i % 2}{50 + i % 50:02d}{1 + i % 12:02d}75{100 + (i // 50) % 900:03d}{i % 1000:03d}"
    )
    key = 97 - int(first) % 97
    value = f"{first}{key:02d}"
    assert nir_mod.is_valid(value)
    return value


def digits_of(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value)


def leaked(text: str, values: list[str]) -> bool:
    """True when any value appears in clear in text (separators ignored)."""
    compact_text = re.sub(r"[\s.\-/]", "", text)
    return any(digits_of(v) in compact_text for v in values)


def message(
    *,
    to: str | list[str] = "Dr Martin <dr.martin@cabinet-exemple.fr>",
    cc: list[str] | None = None,
    sender: str = "secretariat@clinique-exemple.fr",
    subject: str = "Dossier",
    body: str = "Bonjour,\nci-joint le document.\nCordialement\n",
    pdf_lines: list[str] | None = None,
    pdf_name: str = "bordereau.pdf",
    extra: list[tuple[bytes, str, str, str]] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Message-ID"] = "<test-1@clinique-exemple.fr>"
    msg.set_content(body)
    if pdf_lines is not None:
        msg.add_attachment(
            make_pdf(pdf_lines), maintype="application", subtype="pdf", filename=pdf_name
        )
    for data, maintype, subtype, name in extra or []:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg
