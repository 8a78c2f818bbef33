"""The pytest plugin and leakguard.testing, run the way a user's project runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import NIR_SPACED, message
from leakguard.detectors import find_identifiers
from leakguard.testing import assert_action, assert_no_identifiers

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ci-policy"


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")


def _lines_in_order(text: str, *wanted: str) -> None:
    """Each wanted text is in a line of ``text``, in this order (plain substrings)."""
    lines = iter(text.splitlines())
    for w in wanted:
        assert any(w in line for line in lines), f"not found in order: {w!r}\n{text}"


def _clear(text: str) -> None:
    found = [m.kind for m in find_identifiers(text)]
    assert found == [], f"identifiers in clear in the output: {found}"


def _messages(root: Path) -> None:
    box = root / "messages"
    box.mkdir()
    (box / "plain.eml").write_bytes(message(body="La réunion est à 14 h.\n").as_bytes())
    (box / "nir.eml").write_bytes(message(pdf_lines=["Bordereau", f"NIR {NIR_SPACED}"]).as_bytes())


def test_the_plugin_does_nothing_unless_configured(pytester: pytest.Pytester) -> None:
    _messages(pytester.path)
    pytester.makepyfile(test_one="def test_one():\n    assert True\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert "nir.eml" not in result.stdout.str()


def test_stored_messages_become_tests_failing_from_fail_on(pytester: pytest.Pytester) -> None:
    _messages(pytester.path)
    pytester.makeini("[pytest]\nleakguard_messages = messages/*.eml\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    _lines_in_order(
        out,
        "messages/nir.eml::nir.eml FAILED",
        "messages/plain.eml::plain.eml PASSED",
        f"leakguard: expected allow / warn, got encrypt ({pytester.path / 'messages' / 'nir.eml'})",
        "Encrypt: this message may leave only encrypted or through secure health messaging.",
        "- [attachment:bordereau.pdf] Contains a French social security number (NIR): "
        "1 ** ** ** *** *45 29.",
    )
    _clear(out)


def test_fail_on_and_the_expected_actions_file(pytester: pytest.Pytester) -> None:
    _messages(pytester.path)
    pytester.makeini("[pytest]\nleakguard_messages = messages/*.eml\nleakguard_fail_on = block\n")
    pytester.runpytest().assert_outcomes(passed=2)
    (pytester.path / "messages" / "leakguard-expected.toml").write_text(
        '"plain.eml" = ["warn", "block"]\n"nir.eml" = "encrypt"\n', encoding="utf-8"
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["leakguard: expected warn / block, got allow (*plain.eml)"])
    (pytester.path / "messages" / "leakguard-expected.toml").write_text(
        '"nir.eml" = "encrypted"\n', encoding="utf-8"
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=0, failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*leakguard-expected.toml: 'nir.eml' expects 'encrypted'; "
            "allowed: allow, warn, encrypt, block*"
        ]
    )


def test_the_command_line_fail_on_overrides_the_ini(pytester: pytest.Pytester) -> None:
    _messages(pytester.path)
    pytester.makeini("[pytest]\nleakguard_messages = messages/*.eml\n")
    pytester.runpytest("--leakguard-fail-on", "block").assert_outcomes(passed=2)


def test_policy_and_directory_are_read_relative_to_the_ini_file(
    pytester: pytest.Pytester,
) -> None:
    conf = pytester.mkdir("conf")
    (conf / "colleagues.csv").write_text(
        "email,name\nm.lecomte@gmail.com,Marc Lecomte\n", encoding="utf-8"
    )
    (conf / "policy.toml").write_text(
        '[organisation]\ninternal_domains = ["clinique-exemple.fr"]\n', encoding="utf-8"
    )
    pytester.makeini(
        "[pytest]\nleakguard_policy = conf/policy.toml\nleakguard_directory = conf/colleagues.csv\n"
    )
    typo = message(to="Marc Lecompte <m.lecompte@gmail.com>").as_bytes()
    (pytester.path / "typo.bin").write_bytes(typo)
    pytester.makepyfile(
        test_mail="""
        from pathlib import Path
        from leakguard.testing import assert_action

        HERE = Path(__file__).parent

        def test_guard_fixture(leakguard_guard):
            assert len(leakguard_guard.directory) == 1
            assert leakguard_guard.policy.internal_domains == ("clinique-exemple.fr",)

        def test_lookalike_is_seen_with_the_configured_directory():
            assert_action((HERE / "typo.bin").read_bytes(), "allow")
        """
    )
    sub = pytester.mkdir("sub")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)  # paths are relative to the ini file, not to where pytest runs
        result = pytester.runpytest(str(pytester.path))
    result.assert_outcomes(passed=1, failed=1)
    _lines_in_order(
        result.stdout.str(),
        "leakguard: expected allow, got warn",
        "- [header:to] m.lecompte@gmail.com is not a colleague but is 1 keystroke(s) away "
        "from m.lecomte@gmail.com: autocomplete error?",
    )
    # The command line names another directory, relative to where pytest runs.
    (sub / "nobody.csv").write_text("email,name\nx@clinique-exemple.fr,X\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        result = pytester.runpytest(
            str(pytester.path), "--leakguard-directory", "nobody.csv", "-k", "lookalike"
        )
    result.assert_outcomes(passed=1)


def test_disabled_with_p_no_leakguard(pytester: pytest.Pytester) -> None:
    _messages(pytester.path)
    pytester.makeini("[pytest]\nleakguard_messages = messages/*.eml\n")
    pytester.makepyfile(test_fx="def test_fx(leakguard_guard):\n    pass\n")
    result = pytester.runpytest("-p", "no:leakguard")
    # Without the plugin its ini key is unknown, the .eml files are not tests and the
    # fixture does not exist.
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'leakguard_guard' not found*"])


def test_the_plugin_imports_no_checking_machinery() -> None:
    code = (
        "import sys, leakguard.pytest_plugin\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('pypdfium2', 'numpy', "
        "'cryptography', 'rapidfuzz') or m in ('leakguard.guard', 'leakguard.message')]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_example_project_fails_on_the_mixed_row_only(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True)
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=8, failed=1)
    _lines_in_order(
        result.stdout.str(),
        "test_each_letter_may_leave[Lucie Garnier] FAILED",
        "E       AssertionError: leakguard: expected allow / warn, got block",
        "E       Blocked: this message must not be sent.",
        "E       - [attachment:attestation.txt] The attachment concerns someone other than its "
        "single recipient (mail-merge mistake?).",
    )
    _clear(result.stdout.str())


# --------------------------------------------------------------------------- direct use


def test_assert_action_returns_the_verdict_and_checks_its_arguments() -> None:
    verdict = assert_action(message(body="Bonjour\n").as_bytes(), "allow")
    assert verdict.action.value == "allow"
    with pytest.raises(TypeError) as caught:
        assert_action(b"Subject: x\n\nbody\n")
    assert str(caught.value) == (
        "assert_action needs at least one allowed action, e.g. assert_action(msg, 'allow')"
    )


def test_assert_no_identifiers_lists_masked_values_in_french(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LC_ALL", "fr_FR.UTF-8")
    path = tmp_path / "m.eml"
    path.write_bytes(message(body=f"NIR {NIR_SPACED}\n").as_bytes())
    with pytest.raises(AssertionError) as caught:
        assert_no_identifiers(path)
    assert str(caught.value) == (
        f"leakguard : 1 identifiant trouvé ({path})\n"
        "- [corps du message] Contient un numéro de sécurité sociale (NIR) : "
        "1 ** ** ** *** *45 29."
    )
