"""Protection leaves nothing in clear: after Guard.protect, no header outside the
encryption carries an identifier or a health term (RFC 9788 header protection)."""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certs_factory import make_certificate, make_rsa_key, write_certificate, write_private_key
from helpers import IBAN, NAM, NIR, NIR_SPACED, NISS, RIB, SIN, leaked, message
from leakguard.core import IDENTIFIER_KINDS, Verdict
from leakguard.detectors import find_identifiers
from leakguard.errors import LeakBlocked, PolicyError, ProtectionError
from leakguard.guard import Guard, PasswordNotice
from leakguard.message import load_message
from leakguard.policy import Policy
from leakguard.protection import exposed_headers, header_text, smime_encrypt

ROOT = Path(__file__).resolve().parent.parent
OPENSSL = shutil.which("openssl")
PLANTED = [NIR, RIB, IBAN, NISS, NAM, SIN]
CONTENT_KINDS = IDENTIFIER_KINDS | {"health_data"}
OUTER = "Message chiffré / Encrypted message"


# --------------------------------------------------------------------------- fixtures


class Keys:
    """One RSA key, and a certificate made on demand for any address."""

    def __init__(self) -> None:
        self.key = make_rsa_key()
        self.certs: dict[str, x509.Certificate] = {}

    def lookup(self, address: str) -> x509.Certificate:
        address = address.strip().lower()
        if address not in self.certs:
            self.certs[address] = make_certificate(self.key, address)
        return self.certs[address]

    def lookup_any(self, address: str) -> x509.Certificate | None:
        """Like ``lookup``, None for an address no certificate can name (damaged mail)."""
        try:
            return self.lookup(address)
        except ValueError:
            return None

    def decrypt(self, out: EmailMessage) -> EmailMessage:
        data = out.as_bytes()
        for cert in self.certs.values():
            try:
                raw = pkcs7.pkcs7_decrypt_smime(data, cert, self.key, [])
                break
            except ValueError:
                continue  # encrypted for other addresses
        else:
            raise AssertionError("no certificate of the test decrypts this message")
        inner = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(inner, EmailMessage)
        return inner


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def everyone_outside() -> Policy:
    """No internal or secure domain: sensitive content to anyone needs encryption."""
    return Policy.default().replace(internal_domains=(), secure_domains=())


def corpus() -> list[tuple[str, EmailMessage]]:
    """Every example and seed message, and the messages of the protection tests."""
    out: list[tuple[str, EmailMessage]] = []
    files = sorted((ROOT / "examples").glob("*.eml")) + sorted(ROOT.glob("seeds/*/message.eml"))
    for path in files:
        out.append((str(path.relative_to(ROOT)), load_message(path)))
    built = [
        ("nir-in-subject", message(subject=f"Compte rendu NIR {NIR_SPACED}", pdf_lines=["CR"])),
        ("health-in-subject", message(subject="Arrêt de travail Mme Durand", pdf_lines=["x"])),
        ("rib-in-subject", message(subject=f"RIB {RIB}", body=f"IBAN {IBAN}\n")),
        ("ids-in-pdf", message(pdf_lines=[f"NIR {NIR}", f"NISS {NISS}", f"NAM {NAM}"])),
        ("sin-in-body", message(body=f"SIN {SIN}\nDiagnostic : diabète\n")),
        (
            "many-headers",
            _with_headers(
                message(subject=f"Dossier {NIR}", pdf_lines=[f"NIR {NIR}"]),
                [
                    ("X-Patient", NIR_SPACED),
                    ("Thread-Topic", f"Dossier {NIR}"),
                    ("Keywords", "diagnostic, ordonnance"),
                    ("Comments", f"assuré {NISS}"),
                    ("X-Mailer", "Logiciel de cabinet"),
                ],
            ),
        ),
        (
            "display-names",
            message(
                to=f'"Patient {NIR_SPACED}" <patient@example.org>',
                cc=['"Arrêt de travail" <rh@employeur-exemple.fr>'],
                subject="Votre dossier",
                pdf_lines=[f"NIR {NIR}"],
            ),
        ),
    ]
    out.extend(built)
    return out


def _with_headers(msg: EmailMessage, headers: list[tuple[str, str]]) -> EmailMessage:
    for name, value in headers:
        msg[name] = value
    return msg


CORPUS = corpus()


def outer_header_block(out: EmailMessage) -> str:
    """Every header outside the encryption, as a reader decodes it."""
    return "\n".join(f"{k}: {header_text(v)}" for k, v in out.raw_items())


def assert_nothing_in_clear(out: EmailMessage, guard: Guard) -> Verdict:
    """The protected message shows no identifier or health term outside encryption."""
    verdict = guard.check(out)
    shown = sorted(f.kind for f in verdict.findings if f.kind in CONTENT_KINDS)
    assert shown == [], f"in clear after protection: {shown}"
    assert exposed_headers(out) == []
    assert not leaked(outer_header_block(out), PLANTED), "a planted value is in a header"
    return verdict


def recipients_of(msg: EmailMessage) -> list[str]:
    values = [str(v) for h in ("to", "cc", "bcc") for v in msg.get_all(h, [])]
    return [a for _, a in email.utils.getaddresses(values) if "@" in a]


# --------------------------------------------------------------------------- the bug


def test_subject_with_a_nir_is_hidden_after_protect(keys: Keys) -> None:
    """The first report: the NIR stayed in the Subject and check said ALLOW."""
    guard = Guard(everyone_outside(), certificates=keys.lookup)
    original = message(subject=f"Compte rendu NIR {NIR_SPACED}", pdf_lines=[f"NIR {NIR}"])
    out = guard.protect(original)
    assert out.get_content_type() == "application/pkcs7-mime"
    assert out["Subject"] == OUTER
    assert not leaked(out.as_string(), [NIR])
    assert_nothing_in_clear(out, guard)
    inner = keys.decrypt(out)
    assert inner["Subject"] == original["Subject"]


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize("tool", ["smime", "cms"])
def test_openssl_decrypts_and_finds_the_real_subject(keys: Keys, tmp_path: Path, tool: str) -> None:
    assert OPENSSL is not None
    guard = Guard(everyone_outside(), certificates=keys.lookup)
    subject = f"Arrêt de travail — NIR {NIR_SPACED}"
    original = message(subject=subject, pdf_lines=[f"NIR {NIR}"])
    src = tmp_path / "out.eml"
    src.write_bytes(guard.protect(original).as_bytes())
    cert = keys.lookup("dr.martin@cabinet-exemple.fr")
    key_file = write_private_key(keys.key, tmp_path / "key.pem")
    cert_file = write_certificate(cert, tmp_path / "cert.pem")
    done = subprocess.run(
        [
            OPENSSL,
            tool,
            "-decrypt",
            "-in",
            str(src),
            "-inkey",
            str(key_file),
            "-recip",
            str(cert_file),
        ],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    inner = email.message_from_bytes(done.stdout, policy=email.policy.default)
    assert isinstance(inner, EmailMessage)
    # A reader that knows RFC 9788 takes the Subject from the payload's headers...
    assert inner["Subject"] == subject
    assert inner.get_param("hp") == "cipher"
    assert f"Subject: {OUTER}" in (inner.get_all("HP-Outer") or [])
    # ...and one that does not (Outlook, Thunderbird for S/MIME) shows it above the text.
    body = inner.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    assert body.get_param("hp-legacy-display") == "1"
    assert body.get_content().replace("\r\n", "\n").startswith(f"Subject: {subject}\n\n")
    assert [a.get_filename() for a in inner.iter_attachments()] == ["bordereau.pdf"]


# --------------------------------------------------------------------------- every message


@pytest.mark.parametrize(("name", "msg"), CORPUS, ids=[n for n, _ in CORPUS])
def test_smime_of_every_message_shows_nothing_outside(
    keys: Keys, name: str, msg: EmailMessage
) -> None:
    certs = [keys.lookup(a) for a in recipients_of(msg)] or [keys.lookup("x@example.org")]
    out = smime_encrypt(msg, certs)
    guard = Guard(everyone_outside())
    verdict = assert_nothing_in_clear(out, guard)
    assert verdict.encrypted
    inner = keys.decrypt(out)
    assert header_text(inner["Subject"] or "") == header_text(msg["Subject"] or "")


@pytest.mark.parametrize(("name", "msg"), CORPUS, ids=[n for n, _ in CORPUS])
def test_guard_protect_of_every_message_shows_nothing_outside(
    keys: Keys, name: str, msg: EmailMessage
) -> None:
    """Through Guard.protect, with a certificate for everyone, then without any
    certificate (the ZIP fallback): either nothing in clear, or refused."""
    with_certs = Guard(everyone_outside(), certificates=keys.lookup)
    notices: list[PasswordNotice] = []
    zip_only = Guard(everyone_outside(), on_password=notices.append)
    for guard in (with_certs, zip_only):
        before = guard.check(msg)
        try:
            out = guard.protect(msg)
        except LeakBlocked:
            continue  # refused: nothing leaves
        if out is msg:
            assert before.action.value in ("allow", "warn")
            continue
        assert_nothing_in_clear(out, guard)


# --------------------------------------------------------------------------- headers


def test_display_names_with_an_identifier_are_dropped_outside(keys: Keys) -> None:
    original = message(
        to=f'"Patient {NIR_SPACED}" <patient@example.org>',
        cc=['"Arrêt de travail" <rh@employeur-exemple.fr>', "Dr Martin <dr@cabinet.fr>"],
        subject="Votre dossier",
    )
    out = smime_encrypt(original, [keys.lookup("patient@example.org")])
    assert out["To"] == "patient@example.org"
    assert out["Cc"] == "rh@employeur-exemple.fr, dr@cabinet.fr"
    assert out["From"] == original["From"]
    inner = keys.decrypt(out)
    assert inner["To"] == original["To"] and inner["Cc"] == original["Cc"]
    text = inner.get_content().replace("\r\n", "\n")
    # The reader that ignores the payload's headers is shown what was hidden.
    assert text.startswith(
        f"To: Patient {NIR_SPACED} <patient@example.org>\n"
        "Cc: Arrêt de travail <rh@employeur-exemple.fr>, Dr Martin <dr@cabinet.fr>\n"
        "Subject: Votre dossier\n\n"
    )


def test_display_names_are_dropped_beside_a_non_ascii_address(keys: Keys) -> None:
    original = message(to='"Arrêt de travail" <rh@employeur-exémple.fr>, "Dr" <a@b.fr>')
    out = smime_encrypt(original, [keys.lookup("a@b.fr")])
    assert out["To"] == "rh@employeur-exémple.fr, a@b.fr"
    assert exposed_headers(out) == []
    assert keys.decrypt(out)["To"] == original["To"]


def test_other_headers_with_sensitive_values_travel_inside_only(keys: Keys) -> None:
    original = _with_headers(
        message(subject="Dossier"),
        [("X-Patient", NIR), ("X-Mailer", "Cabinet 4.2"), ("X-Motif", "certificat médical")],
    )
    out = smime_encrypt(original, [keys.lookup("dr.martin@cabinet-exemple.fr")])
    assert out["X-Patient"] is None and out["X-Motif"] is None
    assert out["X-Mailer"] == "Cabinet 4.2"
    inner = keys.decrypt(out)
    assert inner["X-Patient"] == NIR and inner["X-Motif"] == "certificat médical"
    assert exposed_headers(original) == ["X-Patient", "X-Motif"]


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_headers_written_in_raw_8_bit_are_read_as_a_mail_client_reads_them(
    keys: Keys, charset: str
) -> None:
    # Unencoded 8-bit text in a header (RFC 6532 UTF-8, or an older client's Latin-1):
    # a health term in it is seen, so the header travels inside only.
    raw = (
        "From: secretariat@clinique-exemple.fr\r\nTo: dr.martin@cabinet-exemple.fr\r\n"
        "Subject: Dossier\r\nX-Motif: certificat médical\r\nX-Mailer: Cabinet 4.2\r\n\r\n"
        "Bonjour\r\n"
    ).encode(charset)
    original = load_message(raw)
    assert exposed_headers(original) == ["X-Motif"]
    out = smime_encrypt(original, [keys.lookup("dr.martin@cabinet-exemple.fr")])
    assert out["X-Motif"] is None and out["X-Mailer"] == "Cabinet 4.2"
    assert "certificat m" not in outer_header_block(out)


def test_identifier_in_an_address_is_refused(keys: Keys) -> None:
    original = message(to=f"{NIR}@example.org", pdf_lines=[f"NIR {NIR}"])
    with pytest.raises(ProtectionError) as caught:
        smime_encrypt(original, [keys.lookup(f"{NIR}@example.org")])
    assert caught.value.reason == "identifier_in_routing_header"
    assert str(caught.value) == (
        "The To header carries an identifier that no encryption can hide: the "
        "message needs it outside to be delivered. Remove the identifier from it."
    )
    assert caught.value.message("fr") == (
        "L'en-tête To porte un identifiant qu'aucun chiffrement ne peut cacher : le "
        "message en a besoin en clair pour être acheminé. Retirez-en l'identifiant."
    )
    guard = Guard(everyone_outside(), certificates=keys.lookup)
    with pytest.raises(LeakBlocked) as blocked:
        guard.protect(original)
    assert blocked.value.cause == "identifier_in_routing_header"
    assert not leaked(str(blocked.value) + blocked.value.message("fr"), [NIR])


def test_a_message_id_with_an_identifier_is_renewed(keys: Keys) -> None:
    """Generated IDs sometimes hold digits that form an identifier: a message not yet
    sent takes a new Message-ID, and references to others stay inside only."""
    original = message(pdf_lines=[f"NIR {NIR}"])
    original.replace_header("Message-ID", f"<{NIR}@clinique-exemple.fr>")
    original["In-Reply-To"] = f"<1700000000.4242.{RIB.replace(' ', '')}@script>"
    original["References"] = "<plain-1@clinique-exemple.fr> " + original["In-Reply-To"]
    out = smime_encrypt(original, [keys.lookup("dr.martin@cabinet-exemple.fr")])
    assert not leaked(out.as_string(), [NIR, RIB])
    assert exposed_headers(out) == []
    new_id = out["Message-ID"]
    assert new_id.endswith("@clinique-exemple.fr>") and NIR not in new_id
    assert out["In-Reply-To"] is None and out["References"] is None
    inner = keys.decrypt(out)
    assert inner["Message-ID"] == new_id
    assert inner["In-Reply-To"] is None
    assert original["Message-ID"] == f"<{NIR}@clinique-exemple.fr>", "the input was modified"
    # The archive path renews it the same way, and the notice names the new ID.
    notices: list[PasswordNotice] = []
    zipped = Guard(everyone_outside(), on_password=notices.append).protect(original)
    assert not leaked(outer_header_block(zipped), [NIR, RIB])
    assert notices[0].message_id == zipped["Message-ID"] != original["Message-ID"]


def test_generated_message_ids_pass_untouched(keys: Keys) -> None:
    original = message(pdf_lines=[f"NIR {NIR}"])
    out = smime_encrypt(original, [keys.lookup("dr.martin@cabinet-exemple.fr")])
    assert out["Message-ID"] == original["Message-ID"] == keys.decrypt(out)["Message-ID"]


def test_zip_fallback_refuses_a_subject_it_cannot_hide() -> None:
    """A password archive leaves the Subject in clear: refused, even when the policy
    does not count health terms as sensitive."""
    notices: list[PasswordNotice] = []
    policy = everyone_outside().replace(
        sensitive_kinds=frozenset(IDENTIFIER_KINDS),
    )
    guard = Guard(policy, on_password=notices.append)
    msg = message(subject="Arrêt de travail de Mme Durand", pdf_lines=[f"NIR {NIR}"])
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(msg)
    assert caught.value.cause == "sensitive_in_headers"
    assert "The Subject header carries an identifier or health information" in str(caught.value)
    assert "L'en-tête Subject contient" in caught.value.message("fr")
    assert notices == []
    # The same message with a plain Subject goes out as an archive.
    msg.replace_header("Subject", "Documents")
    out = guard.protect(msg)
    assert len(notices) == 1
    assert_nothing_in_clear(out, guard)


@pytest.mark.parametrize(
    "subject",
    [
        "Dossier NIR " + "\u200b".join(NIR),  # zero-width spaces between the digits
        "Dossier NIR " + NIR.translate({ord("0") + d: 0xFF10 + d for d in range(10)}),
    ],
    ids=["zero-width", "full-width"],
)
def test_zip_fallback_refuses_a_subject_with_a_disguised_number(subject: str) -> None:
    """A Subject whose number shows plainly but is not written in ASCII digits is read as
    it shows: the archive path cannot hide it and refuses."""
    policy = everyone_outside().replace(sensitive_kinds=frozenset(IDENTIFIER_KINDS))
    guard = Guard(policy, on_password=lambda _: None)
    msg = message(subject=subject, pdf_lines=[f"NIR {NIR}"])
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(msg)
    assert caught.value.cause == "sensitive_in_headers"


def test_zip_fallback_never_leaves_a_health_term_in_the_text() -> None:
    """Even when the policy counts only NIRs as sensitive, the archive path does not
    send a text that names a sick leave in clear."""
    policy = everyone_outside().replace(sensitive_kinds=frozenset({"nir"}))
    guard = Guard(policy, on_password=lambda _: None)
    msg = message(body="Ci-joint l'arrêt de travail.\n", pdf_lines=[f"NIR {NIR}"])
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(msg)
    assert caught.value.cause == "sensitive_in_text"
    msg = message(body="Ci-joint le document.\n", pdf_lines=[f"NIR {NIR}"])
    assert_nothing_in_clear(guard.protect(msg), guard)


# --------------------------------------------------------------------------- policy


def test_outer_subject_is_a_policy_setting(keys: Keys) -> None:
    policy = Policy.from_toml('[protection]\nouter_subject = "[...]"\n')
    assert policy.outer_subject == "[...]"
    assert Policy.default().outer_subject == OUTER
    guard = Guard(policy.replace(internal_domains=(), secure_domains=()), certificates=keys.lookup)
    out = guard.protect(message(subject="Dossier", pdf_lines=[f"NIR {NIR}"]))
    assert out["Subject"] == "[...]"


@pytest.mark.parametrize(
    ("value", "shown"),
    [('""', "''"), ("42", "42"), ('"a\\nb"', "'a\\nb'"), (f'"{"x" * 201}"', None)],
)
def test_outer_subject_must_be_one_short_line(value: str, shown: str | None) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_toml(f"[protection]\nouter_subject = {value}\n", source="p.toml")
    text = str(caught.value)
    assert text.startswith(
        "p.toml: setting 'protection.outer_subject' is not valid"
        + (f" (got {shown})" if shown else "")
    )
    assert "allowed: one line of text, at most 200 characters" in text


def test_outer_subject_may_not_itself_be_sensitive() -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_toml('[protection]\nouter_subject = "Résultats d\'analyses"\n', source="p.toml")
    # The wording around the key is the policy module's; what matters here is the key
    # and what is allowed.
    text = str(caught.value)
    assert text.startswith("p.toml: setting 'protection.outer_subject' is not valid; allowed: ")
    assert "a text without identifier or health term" in text


def test_outer_subject_may_not_carry_a_disguised_number() -> None:
    wide = NIR.translate({ord("0") + d: 0x0660 + d for d in range(10)})  # Arabic-Indic
    with pytest.raises(PolicyError):
        Policy.from_toml(f'[protection]\nouter_subject = "Dossier {wide}"\n', source="p.toml")


# --------------------------------------------------------------------------- property

# A Canadian SIN is an identifier only next to its name (nine digits alone are not).
_VALUES = st.sampled_from(
    [NIR, NIR_SPACED, RIB, IBAN, NISS, NAM, f"SIN {SIN}", "diagnostic", "arrêt de travail"]
)
_WORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    max_size=30,
)
_NAMES = st.sampled_from(
    ["Subject", "X-Patient", "Thread-Topic", "Keywords", "Comments", "Organization", "X-Ref"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.lists(st.tuples(_NAMES, _WORDS, st.one_of(st.none(), _VALUES), _WORDS), max_size=6),
    display=st.one_of(st.none(), _VALUES),
)
def test_no_header_outside_ever_carries_a_planted_value(
    keys: Keys,
    headers: list[tuple[str, str, str | None, str]],
    display: str | None,
) -> None:
    to = f'"{display}" <bob@example.org>' if display else "bob@example.org"
    msg = message(to=to, subject="x")
    del msg["Subject"]
    for name, before, value, after in headers:
        text = " ".join(w for w in (before, value, after) if w)
        try:
            msg[name] = text
        except (ValueError, TypeError):
            continue  # a value the email package refuses to build
    out = smime_encrypt(msg, [keys.lookup("bob@example.org")])
    assert exposed_headers(out) == []
    outer = outer_header_block(out)
    assert not leaked(outer, PLANTED)
    for term in ("diagnostic", "arrêt de travail"):
        assert term not in outer.lower()


# --------------------------------------------------------------------------- mutated mail

_REAL = [p.read_bytes() for p in sorted((ROOT / "examples").glob("*.eml"))]
_PIECES = [
    b"\n",
    b"\r",
    b" ",
    b"=?utf-8?b?",
    b"?=",
    b"<",
    b",",
    b":",
    b'"',
    b"\xff",
    b"\xc3\xa9",
    b"\n\t",
    NIR.encode(),
    b"Subject: NIR " + NIR.encode() + b"\n",
    b"X-Patient: " + NIR.encode() + b"\n",
]


def _mutate(data: bytes, edits: list[tuple[float, int, int]]) -> bytes:
    out = bytearray(data)
    head = max(1, out.find(b"\n\n"))
    for where, kind, piece in edits:
        pos = int(where * head)
        if kind == 0:
            out[pos:pos] = _PIECES[piece % len(_PIECES)]
        elif kind == 1:
            del out[pos : pos + 1 + piece % 5]
        else:
            out[pos : pos + 1] = bytes([piece % 256])
    return bytes(out)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from(_REAL),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 2), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_messages_are_protected_or_refused_never_leaked(
    keys: Keys, source: bytes, edits: list[tuple[float, int, int]]
) -> None:
    """Damaged headers: the S/MIME output hides everything and decrypts, or a
    ProtectionError says why; Guard.enforce raises nothing but LeakBlocked."""
    msg = load_message(_mutate(source, edits))
    try:
        out = smime_encrypt(msg, [keys.lookup("x@example.org")])
    except ProtectionError as exc:
        assert exc.reason in ("identifier_in_routing_header", "message_unwritable")
    else:
        assert exposed_headers(out) == []
        assert find_identifiers(outer_header_block(out)) == []
        keys.decrypt(out)
    guards = (
        Guard(everyone_outside(), certificates=keys.lookup_any),
        Guard(everyone_outside(), on_password=lambda _: None),
    )
    for guard in guards:
        try:
            verdict = guard.check(msg)
        except Exception:  # the check of damaged input is not what this test is about
            continue
        try:
            protected = guard.enforce(msg, verdict)
        except LeakBlocked:
            continue
        if protected is not msg:
            assert exposed_headers(protected) == []
