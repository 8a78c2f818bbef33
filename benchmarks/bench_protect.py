"""S/MIME protection speed: what header protection costs on top of enveloping.

Run by hand (not in CI timing):  python benchmarks/bench_protect.py [--rounds 50]

For one typical clinic message (text, HTML alternative, a 200 KB PDF) and one with a
2 MB attachment, prints the median time of ``smime_encrypt`` (RFC 9788 header
protection, outer Subject, legacy display) against a baseline measured in the same
run: the S/MIME message built as before header protection (content entity enveloped,
the other headers copied outside), serialised the same way. Then the
time to protect messages with hostile headers (a 3 MB Subject of encoded words, a To
of 100,000 addresses), which must stay in seconds.
"""

from __future__ import annotations

import argparse
import copy
import re
import statistics
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.ciphers import algorithms  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs7  # noqa: E402

from certs_factory import make_certificate, make_rsa_key  # noqa: E402
from leakguard.message import load_message  # noqa: E402
from leakguard.protection import smime_encrypt  # noqa: E402
from leakguard.protection.smime import set_envelope  # noqa: E402


def clinic_message(attachment_bytes: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Secrétariat <secretariat@clinique-exemple.fr>"
    msg["To"] = "Dr Claire Martin <dr.martin@cabinet-exemple.fr>"
    msg["Subject"] = "Compte rendu — NIR 1 85 05 75 112 345 29"
    msg["Message-ID"] = "<cr-1@clinique-exemple.fr>"
    msg.set_content("Bonjour,\nvoici le compte rendu.\nCordialement\n" * 20)
    msg.add_alternative("<html><body><p>Bonjour,</p></body></html>", subtype="html")
    msg.add_attachment(
        bytes(range(256)) * (attachment_bytes // 256),
        maintype="application",
        subtype="pdf",
        filename="compte-rendu.pdf",
    )
    return msg


def bare_envelope(msg: EmailMessage, cert: object) -> bytes:
    """The baseline: the S/MIME message built as before header protection existed:
    content entity enveloped as is, every other header copied outside."""
    inner = copy.deepcopy(msg)
    for name in {n.lower() for n in inner if not n.lower().startswith("content-")}:
        del inner[name]
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(inner.as_bytes(policy=SMTP))
    builder = builder.add_recipient(cert).set_content_encryption_algorithm(algorithms.AES256)  # type: ignore[arg-type]
    der = builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    outer = EmailMessage()
    for name, value in msg.items():
        if not name.lower().startswith("content-") and name.lower() != "mime-version":
            outer[name] = value
    set_envelope(outer, der)
    return outer.as_bytes()


def median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def paired_ms(
    ours: Callable[[], object], base: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Medians of both, run in turn so that a busy machine slows both alike."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        for run, into in ((ours, a), (base, b)):
            started = time.perf_counter()
            run()
            into.append(time.perf_counter() - started)
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    key = make_rsa_key()
    cert = make_certificate(key, "dr.martin@cabinet-exemple.fr")

    for label, size in (("typical (200 KB PDF)", 200_000), ("large (2 MB PDF)", 2_000_000)):
        msg = clinic_message(size)
        ours, base = paired_ms(
            lambda m=msg: smime_encrypt(m, [cert]).as_bytes(),
            lambda m=msg: bare_envelope(m, cert),
            args.rounds,
        )
        print(
            f"{label:22} smime_encrypt {ours:7.1f} ms   as before (baseline) {base:7.1f} ms"
            f"   header protection costs {ours - base:+.1f} ms"
        )

    plain = clinic_message(10_000).as_bytes()
    subject = re.sub(
        rb"Subject:[^\n]*\n", b"Subject: " + b"=?utf-8?b?w6k=?= " * 200_000 + b"\n", plain, count=1
    )
    to = ", ".join(f'"User {i}" <user{i}@example.org>' for i in range(100_000))
    many = plain.replace(
        b"To: Dr Claire Martin <dr.martin@cabinet-exemple.fr>", b"To: " + to.encode()
    )
    for label, raw in (("3 MB encoded Subject", subject), ("To of 100,000 addresses", many)):
        msg = load_message(raw)
        took = median_ms(lambda m=msg: smime_encrypt(m, [cert]).as_bytes(), 1)
        print(f"{label:24} {len(raw) / 2**20:5.1f} MB   protected in {took / 1000:.2f} s")


if __name__ == "__main__":
    main()
