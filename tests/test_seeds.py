"""Every incident scenario under seeds/ gives the verdict it expects."""

from __future__ import annotations

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
