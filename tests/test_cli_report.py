"""Text output for people: grouped findings, short fingerprints, a summary line with the
reason for the exit status, ``scan --fail-on`` and the colleagues' file problems."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_helpers import run
from helpers import NIR, RIB, leaked, make_nir, message
from leakguard.core import Action, Finding, Location, Severity, Verdict, group_findings


@pytest.fixture(autouse=True)
def english_and_one_key(english: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKGUARD_FINGERPRINT_KEY", "test-key-for-one-run")


NIRS = [make_nir(i) for i in range(12)]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A message with 12 patients' NIRs in a CSV and a RIB in the body."""
    rows = "\n".join(f"{n};Patient {i}" for i, n in enumerate(NIRS))
    data = message(
        body=f"RIB {RIB}\n",
        extra=[(f"nir;nom\n{rows}\n".encode(), "text", "csv", "export.csv")],
    ).as_bytes()
    path = tmp_path / "export.eml"
    path.write_bytes(data)
    return path


def test_findings_of_one_kind_are_grouped_and_verbose_lists_them_all(
    capsys: pytest.CaptureFixture[str], export: Path
) -> None:
    code, out, err = run(capsys, "check", str(export))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{export}: ENCRYPT"
    heads = [ln for ln in lines if ln.startswith("  - ")]
    assert heads[0] == "  - [high] nir ×12, first 5 shown (--verbose for all):"
    assert sum(" nir" in h for h in heads) == 1  # one kind, one place
    nir_lines = [ln for ln in lines if "social security number" in ln]
    assert len(nir_lines) == 5
    assert all(ln.startswith("      attachment:export.csv: Contains ") for ln in nir_lines)
    assert any(h.startswith("  - [medium] rib @ body: Contains French bank details") for h in heads)

    code, verbose, _ = run(capsys, "check", "--verbose", str(export))
    assert code == 1
    assert "  - [high] nir ×12:\n" in verbose
    assert sum("social security number" in ln for ln in verbose.splitlines()) == 12
    assert not leaked(out + verbose, [*NIRS, RIB])


def test_fingerprints_are_shown_short(capsys: pytest.CaptureFixture[str], export: Path) -> None:
    _, doc, _ = run(capsys, "check", "--format", "json", str(export))
    fingerprints = [
        f["fingerprint"] for f in json.loads(doc)["messages"][0]["findings"] if "fingerprint" in f
    ]
    _, out, _ = run(capsys, "check", "--verbose", str(export))
    assert len(fingerprints) == 13
    for fp in fingerprints:
        assert f"(#{fp[:8]})" in out
        assert fp not in out
    assert len(re.findall(r"\(#[0-9a-f]{8}\)$", out, flags=re.MULTILINE)) == 13


def test_explain_groups_too_and_never_says_nothing_above_findings() -> None:
    findings = tuple(
        Finding("nir", Location.attachment("a.csv"), Severity.HIGH, masked=f"m{i}")
        for i in range(8)
    )
    explained = Verdict(Action.ALLOW, findings).explain("en")
    assert explained.splitlines()[0] == (
        "Allowed: the points below do not stop this message; read them before sending it."
    )
    assert "nothing" not in explained
    assert explained.splitlines()[-1] == "- ... and 3 more finding(s) of kind nir."
    assert len(explained.splitlines()) == 1 + 5 + 1
    assert len(Verdict(Action.ALLOW, findings).explain("fr", limit=None).splitlines()) == 9
    assert "rien" not in Verdict(Action.ALLOW, findings).explain("fr")
    assert Verdict(Action.ALLOW).explain("en") == "Allowed: nothing found that stops this message."


def test_allowed_message_with_findings_does_not_say_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mail = tmp_path / "inside.eml"
    mail.write_bytes(message(to="a@clinique-exemple.fr", body=f"NIR {NIR}\n").as_bytes())
    code, out, _ = run(capsys, "check", "--internal-domain", "clinique-exemple.fr", str(mail))
    assert code == 0
    assert out.splitlines()[:2] == [
        f"{mail}: ALLOW",
        "  Allowed: the points below do not stop this message; read them before sending it.",
    ]
    assert "nothing" not in out and "[high] nir @ body" in out
    assert not leaked(out, [NIR])


def last(text: str) -> str:
    return text.splitlines()[-1]


def test_summary_line_says_why_the_exit_status(
    capsys: pytest.CaptureFixture[str], mails: Path, colleagues: Path
) -> None:
    code, out, _ = run(capsys, "check", "--directory", str(colleagues), str(mails))
    assert code == 1
    assert last(out) == (
        "Summary: 3 messages checked (1 ALLOW, 1 ENCRYPT, 1 BLOCK). "
        "Exit status 1: 2 messages reach --fail-on encrypt."
    )
    code, out, _ = run(
        capsys, "check", "--fail-on", "block", "--directory", str(colleagues), str(mails)
    )
    assert code == 1
    assert last(out).endswith("Exit status 1: 1 message reaches --fail-on block.")
    code, out, _ = run(capsys, "check", str(mails / "1-plain.eml"))
    assert code == 0
    assert last(out) == (
        "Summary: 1 message checked (1 ALLOW). Exit status 0: no message reaches --fail-on encrypt."
    )
    code, out, _ = run(capsys, "check", str(mails / "1-plain.eml"), str(mails / "gone.eml"))
    assert code == 2
    assert last(out) == (
        "Summary: 1 message checked (1 ALLOW); 1 input unreadable. "
        "Exit status 2: 1 input could not be read (the others were checked)."
    )
    code, out, _ = run(
        capsys, "check", str(mails / "1-plain.eml"), str(mails / "gone.eml"), str(mails / "x")
    )
    assert last(out) == (
        "Summary: 1 message checked (1 ALLOW); 2 inputs unreadable. "
        "Exit status 2: 2 inputs could not be read (the others were checked)."
    )
    code, out, _ = run(capsys, "--lang", "fr", "check", "--directory", str(colleagues), str(mails))
    assert last(out) == (
        "Bilan : 3 messages vérifiés (1 AUTORISÉ, 1 À CHIFFRER, 1 BLOQUÉ). "
        "Code de sortie 1 : 2 messages atteignent --fail-on encrypt."
    )


def test_json_and_sarif_have_no_summary_line(
    capsys: pytest.CaptureFixture[str], mails: Path
) -> None:
    for fmt in ("json", "sarif"):
        _, out, _ = run(capsys, "check", "--format", fmt, str(mails))
        json.loads(out)  # the whole output is one JSON document


@pytest.fixture
def bank_only(tmp_path: Path) -> Path:
    """A document whose only finding is a RIB (medium severity)."""
    f = tmp_path / "coordonnees.txt"
    f.write_text(f"Coordonnées bancaires : {RIB}\n", encoding="utf-8")
    return f


@pytest.mark.parametrize(
    ("fail_on", "expected", "reason"),
    [
        (None, 0, "Exit status 0: scan fails only when --fail-on is given."),
        ("low", 1, "Exit status 1: 1 finding reaches --fail-on low."),
        ("medium", 1, "Exit status 1: 1 finding reaches --fail-on medium."),
        ("high", 0, "Exit status 0: no finding reaches --fail-on high."),
    ],
)
def test_scan_fail_on_severity(
    capsys: pytest.CaptureFixture[str],
    bank_only: Path,
    fail_on: str | None,
    expected: int,
    reason: str,
) -> None:
    argv = ["scan", *(["--fail-on", fail_on] if fail_on else []), str(bank_only)]
    code, out, _ = run(capsys, *argv)
    assert code == expected
    assert last(out) == f"Summary: 1 file scanned, 1 finding (medium 1). {reason}"
    assert not leaked(out, [RIB])
    code, doc, _ = run(capsys, *argv[:-1], "--format", "json", str(bank_only))
    assert code == expected and json.loads(doc)["messages"][0]["findings"][0]["kind"] == "rib"


def test_scan_fail_on_high_fails_on_a_nir_and_unreadable_input_wins(
    capsys: pytest.CaptureFixture[str], export: Path, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "scan", "--fail-on", "high", str(export))
    assert code == 1
    assert last(out) == (
        "Summary: 1 file scanned, 13 findings (high 12, medium 1). "
        "Exit status 1: 12 findings reach --fail-on high."
    )
    code, out, _ = run(capsys, "scan", "--fail-on", "high", str(export), str(tmp_path / "no.pdf"))
    assert code == 2
    assert last(out) == (
        "Summary: 1 file scanned, 13 findings (high 12, medium 1); 1 input unreadable. "
        "Exit status 2: 1 input could not be read (the others were checked)."
    )
    code, out, _ = run(capsys, "--lang", "fr", "scan", "--fail-on", "medium", str(export))
    assert last(out) == (
        "Bilan : 1 fichier analysé, 13 constats (gravité haute 12, moyenne 1). "
        "Code de sortie 1 : 13 constats atteignent --fail-on medium."
    )


@pytest.fixture
def messy_colleagues(tmp_path: Path) -> Path:
    f = tmp_path / "colleagues.csv"
    f.write_text(
        "email,name\n"
        "m.lecomte@gmail.com,Marc Lecomte\n"
        "not-an-address,Nobody\n"
        f"{NIR},Wrong column\n"
        ",Empty\n"
        "M.Lecomte@gmail.com,Marc again\n",
        encoding="utf-8",
    )
    return f


def test_unusable_directory_rows_are_listed_on_stderr_with_a_count(
    capsys: pytest.CaptureFixture[str], mails: Path, messy_colleagues: Path
) -> None:
    code, out, err = run(
        capsys, "check", "--directory", str(messy_colleagues), str(mails / "3-typo.eml")
    )
    assert code == 1 and "BLOCK" in out  # the usable colleague still counts
    shown = str(messy_colleagues)
    assert err.splitlines() == [
        f"leakguard: {shown}: line 3: invalid e-mail address 'not-an-address': "
        "An email address must have an @-sign.",
        f"leakguard: {shown}: line 4: invalid e-mail address '•••••••••••••••': "
        "An email address must have an @-sign.",
        f"leakguard: {shown}: line 5: no e-mail address on this line",
        f"leakguard: {shown}: line 6: duplicate of line 2 (m.lecomte@gmail.com)",
        f"leakguard: {shown}: 4 unusable line(s) ignored; the other colleagues are used "
        "(--strict-directory makes this an error).",
    ]
    assert not leaked(out + err, [NIR])


def test_strict_directory_makes_unusable_rows_an_error(
    capsys: pytest.CaptureFixture[str], mails: Path, messy_colleagues: Path
) -> None:
    argv = ["--directory", str(messy_colleagues), "--strict-directory", str(mails / "3-typo.eml")]
    code, out, err = run(capsys, "--lang", "fr", "check", *argv)
    assert (code, out) == (2, "")
    shown = str(messy_colleagues)
    assert err.splitlines()[-2:] == [
        f"leakguard : {shown} : ligne 6 : doublon de la ligne 2 (m.lecomte@gmail.com)",
        f"leakguard : {shown} : 4 ligne(s) inutilisable(s) ; --strict-directory en fait une "
        "erreur.",
    ]
    assert len(err.splitlines()) == 5
    assert not leaked(err, [NIR])
    clean = messy_colleagues.with_name("clean.csv")
    clean.write_text("email\nm.lecomte@gmail.com\n", encoding="utf-8")
    code, _, err = run(
        capsys, "check", "--directory", str(clean), "--strict-directory", str(mails / "3-typo.eml")
    )
    assert code == 1 and err == ""


_KINDS = ("nir", "rib", "health_data", "many_people", "lookalike_recipient")


@given(
    st.lists(
        st.tuples(st.sampled_from(_KINDS), st.sampled_from(list(Severity)), st.integers(0, 3)),
        max_size=40,
    )
)
def test_grouping_keeps_every_finding_once_in_kind_and_severity_order(
    specs: list[tuple[str, Severity, int]],
) -> None:
    findings = [
        Finding(kind, Location.attachment(f"f{n}.pdf"), severity, masked=f"m{i}")
        for i, (kind, severity, n) in enumerate(specs)
    ]
    groups = group_findings(findings)
    kinds = [kind for kind, _ in groups]
    assert sorted(kinds) == sorted({f.kind for f in findings})  # one place per kind
    flat = [f for _, group in groups for f in group]
    assert sorted(flat, key=findings.index) == findings  # nothing lost, nothing doubled
    for kind, group in groups:
        assert all(f.kind == kind for f in group)
        assert group == [f for f in findings if f.kind == kind]  # order of appearance kept
    worst = [max(f.severity.rank for f in group) for _, group in groups]
    assert worst == sorted(worst, reverse=True)
    explained = Verdict(Action.WARN, tuple(findings)).explain("en", limit=2)
    assert len(explained.splitlines()) == 1 + sum(min(len(g), 2) + (len(g) > 2) for _, g in groups)
