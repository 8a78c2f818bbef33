"""Run every incident scenario under seeds/ and compare the verdict with what it expects.

    python seeds/run.py                    # all scenarios
    python seeds/run.py alliance-vision    # one, by name
    python seeds/run.py path/to/my-case    # any folder laid out the same way

Each scenario folder holds ``message.eml``, ``scenario.toml`` (what happened, the
expected action and finding kinds) and the context it needs (``policy.toml``,
``colleagues.csv``). Exit status 1 when a verdict differs from the expectation, 2 when
an argument names no scenario (nothing is run then).
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from leakguard.cli._common import t
from leakguard.core import Verdict
from leakguard.guard import Guard
from leakguard.policy import Policy

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Outcome:
    name: str
    verdict: Verdict
    expected_action: str
    expected_kinds: frozenset[str]
    forbidden_kinds: frozenset[str]

    @property
    def ok(self) -> bool:
        kinds = self.verdict.kinds()
        return (
            self.verdict.action.value == self.expected_action
            and self.expected_kinds <= kinds
            and not (self.forbidden_kinds & kinds)
        )


def scenarios() -> list[Path]:
    return sorted(p.parent for p in HERE.glob("*/scenario.toml"))


class UnknownScenario(LookupError):
    """An argument that is neither a scenario's name nor a scenario folder."""


def find(arg: str) -> Path:
    """The scenario folder ``arg`` names: a folder under seeds/, or a path to a folder
    holding a ``scenario.toml``. Raises :class:`UnknownScenario` with the reason."""
    for folder in (HERE / arg, Path(arg)):
        if (folder / "scenario.toml").is_file():
            return folder.resolve()
    known = ", ".join(p.name for p in scenarios())
    if Path(arg).is_dir():
        raise UnknownScenario(
            t(
                f"{arg}: this folder holds no scenario.toml, so it is not a scenario.",
                f"{arg} : ce dossier ne contient pas de scenario.toml, ce n'est pas un scénario.",
            )
        )
    raise UnknownScenario(
        t(
            f"unknown scenario '{arg}': give a scenario's name or a folder holding a "
            f"scenario.toml. Known scenarios: {known}.",
            f"scénario inconnu « {arg} » : donnez le nom d'un scénario ou un dossier "
            f"contenant un scenario.toml. Scénarios connus : {known}.",
        )
    )


def run(folder: Path) -> Outcome:
    spec = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    policy_file = folder / "policy.toml"
    policy = Policy.load(policy_file) if policy_file.exists() else Policy.default()
    guard = Guard(policy)
    verdict = guard.check(folder / "message.eml", source=str(folder.name))
    expect = spec["expect"]
    return Outcome(
        name=folder.name,
        verdict=verdict,
        expected_action=expect["action"],
        expected_kinds=frozenset(expect.get("kinds", [])),
        forbidden_kinds=frozenset(expect.get("absent", [])),
    )


def main(argv: list[str]) -> int:
    chosen: list[Path] = []
    unknown: list[str] = []
    for arg in argv:
        try:
            chosen.append(find(arg))
        except UnknownScenario as exc:
            unknown.append(str(exc))
    if unknown:
        for reason in unknown:
            print(reason, file=sys.stderr)
        return 2
    chosen = chosen or scenarios()
    failed = 0
    for folder in chosen:
        out = run(folder)
        mark = "ok  " if out.ok else "FAIL"
        print(f"{mark} {out.name}: {out.verdict.action.value} (expected {out.expected_action})")
        print("     " + out.verdict.explain("fr").replace("\n", "\n     "))
        if not out.ok:
            failed += 1
            missing = sorted(out.expected_kinds - out.verdict.kinds())
            extra = sorted(out.forbidden_kinds & out.verdict.kinds())
            print(f"     missing kinds: {missing}; unexpected kinds: {extra}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
