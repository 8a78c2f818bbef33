"""Core types: action order, locations, finding shape, no clear values in repr."""

from __future__ import annotations

import hashlib
import hmac

import pytest

import leakguard
from leakguard.core import Action, Finding, Fingerprinter, Location, Severity, Verdict, highest


def test_actions_are_ordered_as_the_contract_says() -> None:
    assert Action.ALLOW < Action.WARN < Action.ENCRYPT < Action.BLOCK
    assert sorted([Action.BLOCK, Action.ALLOW, Action.ENCRYPT, Action.WARN]) == [
        Action.ALLOW,
        Action.WARN,
        Action.ENCRYPT,
        Action.BLOCK,
    ]
    assert highest([]) is Action.ALLOW
    assert highest([Action.WARN, Action.ENCRYPT, Action.ALLOW]) is Action.ENCRYPT
    assert [a.value for a in Action] == ["allow", "warn", "encrypt", "block"]
    assert Action.parse(" Block ") is Action.BLOCK
    with pytest.raises(ValueError, match="allowed: allow, warn, encrypt, block"):
        Action.parse("shred")


def test_locations_print_as_in_the_contract() -> None:
    assert str(Location.body()) == "body"
    assert str(Location.subject()) == "subject"
    assert str(Location.header("To")) == "header:to"
    assert str(Location.attachment("a.zip", "b.pdf")) == "attachment:a.zip/b.pdf"
    assert str(Location.attachment("a.zip").child("c.docx")) == "attachment:a.zip/c.docx"
    assert str(Location.body().child("x.pdf")) == "attachment:x.pdf"
    assert Location.attachment("x").is_attachment and not Location.body().is_attachment


def test_fingerprints_are_keyed_and_stable_within_a_key() -> None:
    a, b = Fingerprinter(b"k1"), Fingerprinter(b"k2")
    assert a("nir", "185057511234529") == a("nir", "185057511234529")
    assert a("nir", "185057511234529") != b("nir", "185057511234529")
    assert a("nir", "185057511234529") != a("nir", "185057511234500")
    assert "185057511234529" not in a("nir", "185057511234529")
    assert "k1" not in repr(a)


def test_fingerprints_are_hmac_sha256() -> None:
    # Keys of every length (a long one is hashed first, as RFC 2104 says), as text too.
    for key in (b"k", b"k" * 64, b"k" * 65, bytes(range(200)), "clé"):
        raw = key.encode() if isinstance(key, str) else key
        want = hmac.new(raw, b"iban:FR7630006000011234567890189", hashlib.sha256).hexdigest()
        assert Fingerprinter(key)("iban", "FR7630006000011234567890189") == want[:20]


def test_finding_shape_and_repr_hide_values() -> None:
    f = Finding(
        kind="nir",
        location=Location.attachment("bordereau.pdf"),
        severity=Severity.HIGH,
        masked="1 ** ** ** *** *45 29",
        fingerprint="abc",
    )
    d = f.to_dict("fr")
    assert d["kind"] == "nir" and d["location"] == "attachment:bordereau.pdf"
    assert d["severity"] == "high" and d["masked"] == "1 ** ** ** *** *45 29"
    assert "NIR" in d["message"] and "sécurité sociale" in d["message"]
    assert "count" not in d
    with pytest.raises(AttributeError):
        f.kind = "rib"  # type: ignore[misc]
    assert "abc" not in repr(f)  # fingerprints stay out of reprs too


@pytest.mark.parametrize("kind", sorted(leakguard.core.KINDS))
def test_every_kind_has_a_sentence_in_both_languages(kind: str) -> None:
    f = Finding(
        kind=kind,
        location=Location.body(),
        severity=Severity.LOW,
        masked="****",
        count=3,
        recipient="a@b.fr",
        similar_to="a@c.fr",
        distance=1,
    )
    en, fr = f.message("en"), f.message("fr")
    assert en and fr and en != fr
    assert "Finding of kind" not in en


def test_verdict_explain_in_french_and_english() -> None:
    f = Finding(kind="many_people", location=Location.body(), severity=Severity.HIGH, count=20)
    v = Verdict(Action.ENCRYPT, (f,))
    assert v.explain("fr").startswith("Chiffrement requis")
    assert "20 personnes" in v.explain("fr")
    assert v.explain("en").startswith("Encrypt")
    assert v.kinds() == frozenset({"many_people"})
    assert v.to_dict()["action"] == "encrypt"


def test_public_surface_is_exactly_the_intended_one() -> None:
    for name in leakguard.__all__:
        assert getattr(leakguard, name) is not None, name
    assert set(leakguard.__all__) == {
        "Action",
        "AuditLog",
        "Directory",
        "DirectoryError",
        "Finding",
        "Fingerprinter",
        "Guard",
        "GuardedSMTP",
        "GuardedSMTP_SSL",
        "InputError",
        "LeakBlocked",
        "LeakguardError",
        "Limits",
        "Location",
        "PasswordNotice",
        "PatientRegister",
        "Policy",
        "PolicyError",
        "ProtectionError",
        "RecipientGuard",
        "Severity",
        "Verdict",
        "__version__",
        "hook_smtplib",
        "scan",
    }
    with pytest.raises(AttributeError):
        _ = leakguard.does_not_exist  # type: ignore[attr-defined]


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, leakguard; heavy = [m for m in ('pypdfium2', 'cryptography', "
        "'aiosmtpd', 'pyzipper', 'rapidfuzz') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_homoglyph_lookalike_is_described_as_looking_identical() -> None:
    f = Finding(
        kind="lookalike_recipient",
        location=Location.header("to"),
        severity=Severity.HIGH,
        recipient="раul@clinique.fr",
        similar_to="paul@clinique.fr",
        distance=2,
        detail="homoglyph",
    )
    assert "looks identical" in f.message("en")
    assert "autre alphabet" in f.message("fr")
    assert "keystroke" not in f.message("en")


def test_top_level_attachment_of_a_nested_location() -> None:
    assert Location.attachment("a.zip", "d/b.pdf").top_level == Location.attachment("a.zip")
    assert Location.attachment("c.pdf").top_level == Location.attachment("c.pdf")
    assert Location.body().top_level == Location.body()
