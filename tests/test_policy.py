"""Policy loading: the embedded default, overrides, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakguard.core import Action
from leakguard.errors import PolicyError
from leakguard.policy import DEFAULT_POLICY_TOML, Policy


def test_default_policy_matches_design() -> None:
    p = Policy.default()
    assert p.is_secure("medecin.mssante.fr")
    assert p.is_secure("mssante.fr")
    assert not p.is_secure("gmail.com")
    assert p.action_for("unencrypted_sensitive", sensitive=True) is Action.ENCRYPT
    assert p.action_for("lookalike_recipient", sensitive=False) is Action.WARN
    assert p.action_for("lookalike_recipient", sensitive=True) is Action.BLOCK
    assert p.action_for("unscannable_attachment", sensitive=False) is Action.WARN
    assert (
        p.action_for("unscannable_attachment", sensitive=False, detail="encrypted") is Action.ALLOW
    )
    assert p.action_for("bulk_visible_recipients", sensitive=False) is Action.WARN
    assert p.bulk_visible_threshold == 10


def test_policy_file_overrides_only_what_it_says(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(
        '[organisation]\ninternal_domains = ["Clinique.FR"]\n'
        '[actions]\nlookalike_recipient = "block"\n'
        '[directory]\npath = "colleagues.csv"\n',
        encoding="utf-8",
    )
    p = Policy.load(f)
    assert p.internal_domains == ("clinique.fr",)
    assert p.is_internal("clinique.fr") and p.is_internal("mail.clinique.fr")
    assert not p.is_internal("clinique.fr.evil.com")
    assert p.action_for("lookalike_recipient", sensitive=False) is Action.BLOCK
    assert p.action_for("many_people", sensitive=True) is Action.ENCRYPT  # default kept
    assert p.directory_path == tmp_path / "colleagues.csv"
    assert p.source == str(f)


def test_policy_is_frozen() -> None:
    p = Policy.default()
    with pytest.raises(AttributeError):
        p.internal_domains = ("x.fr",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.actions["nir"] = Action.BLOCK  # type: ignore[index]
    q = p.replace(internal_domains=("x.fr",))
    assert q.internal_domains == ("x.fr",) and p.internal_domains == ()


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ('[actions]\nnir = "shred"\n', "actions.nir", "allow, warn, encrypt or block"),
        ('[actions]\nnirr = "block"\n', "actions.nirr", "many_people"),
        ("[thresholds]\nmany_people = 1\n", "thresholds.many_people", "a whole number ≥ 2"),
        ("[directory]\nlookalike_distance = 3\n", "directory.lookalike_distance", "1 or 2"),
        (
            '[organisation]\ninternal_domain = ["x.fr"]\n',
            "organisation.internal_domain",
            "internal_domains",
        ),
        (
            '[organisation]\ninternal_domains = "x.fr"\n',
            "organisation.internal_domains",
            "list of domains",
        ),
        ("[colour]\nred = 1\n", "colour", "sections"),
        (
            '[protection]\nsensitive_kinds = ["blood"]\n',
            "protection.sensitive_kinds",
            "finding kinds",
        ),
    ],
)
def test_wrong_setting_names_file_key_and_allowed(
    tmp_path: Path, text: str, key: str, allowed: str
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        Policy.load(f)
    msg = str(err.value)
    assert str(f) in msg
    assert f"'{key}'" in msg
    assert allowed in msg


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "broken.toml"
    f.write_text("[actions\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        Policy.load(f)
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        Policy.load(tmp_path / "absent.toml")


def test_embedded_default_is_a_valid_policy_file(tmp_path: Path) -> None:
    f = tmp_path / "copy.toml"
    f.write_text(DEFAULT_POLICY_TOML, encoding="utf-8")
    assert Policy.load(f).actions == Policy.default().actions
