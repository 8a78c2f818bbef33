"""Every incident scenario under seeds/ gives the verdict it expects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
sys.path.insert(0, str(SEEDS))

from run import run, scenarios  # noqa: E402


@pytest.mark.parametrize("folder", scenarios(), ids=lambda p: p.name)
def test_scenario(folder: Path) -> None:
    out = run(folder)
    missing = sorted(out.expected_kinds - out.verdict.kinds())
    unexpected = sorted(out.forbidden_kinds & out.verdict.kinds())
    assert out.verdict.action.value == out.expected_action, out.verdict.explain("en")
    assert not missing and not unexpected


def test_there_is_one_scenario_per_incident() -> None:
    names = {p.name for p in scenarios()}
    assert {
        "alliance-vision",
        "unicause-quebec",
        "viamedis-almerys",
        "portail-assurance-maladie",
        "medicheck-belgique",
    } <= names


def _run_script(*args: str, lang: str = "C") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env["LANG"] = lang
    return subprocess.run(
        [sys.executable, str(SEEDS / "run.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unknown_scenario_is_refused_with_the_known_ones() -> None:
    known = ", ".join(p.name for p in scenarios())
    done = _run_script("alliance-visoin")
    assert done.returncode == 2
    assert done.stdout == ""  # nothing was run
    assert done.stderr == (
        "unknown scenario 'alliance-visoin': give a scenario's name or a folder holding a "
        f"scenario.toml. Known scenarios: {known}.\n"
    )
    fr = _run_script("medicheck-belgique", "inconnu", lang="fr_FR.UTF-8")
    assert fr.returncode == 2 and fr.stdout == ""
    assert fr.stderr == (
        "scénario inconnu « inconnu » : donnez le nom d'un scénario ou un dossier contenant "
        f"un scenario.toml. Scénarios connus : {known}.\n"
    )


def test_folder_that_is_not_a_scenario(tmp_path: Path) -> None:
    done = _run_script(str(tmp_path))
    assert done.returncode == 2
    assert (
        done.stderr == f"{tmp_path}: this folder holds no scenario.toml, so it is not a scenario.\n"
    )


def test_scenario_given_as_a_folder_path(tmp_path: Path) -> None:
    mine = tmp_path / "my-case"
    shutil.copytree(SEEDS / "alliance-vision", mine)
    done = _run_script(str(mine), "unicause-quebec")
    assert done.returncode == 0, done.stdout + done.stderr
    heads = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert heads == [
        "ok   my-case: block (expected block)",
        "ok   unicause-quebec: block (expected block)",
    ]
    # The folder's own expectation is the one compared.
    spec = mine / "scenario.toml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace('action = "block"', 'action = "allow"'),
        encoding="utf-8",
    )
    failed = _run_script(str(mine))
    assert failed.returncode == 1
    assert failed.stdout.startswith("FAIL my-case: block (expected allow)")
