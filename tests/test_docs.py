"""The documentation stands alone and tells the truth: no pointer outside the
repository, links that resolve, and a findings page that matches the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import IBAN, NAM, NIR, NISS, RIB, SIN
from leakguard import detectors
from leakguard.core import IDENTIFIER_KINDS, KINDS
from leakguard.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = ROOT / "docs" / "findings.md"
# The recipient-header kind the guard reports when a header does not parse cleanly.
DOCUMENTED_KINDS = KINDS | {"unreadable_recipients"}

# Names of notes that live outside the repository, written in pieces so that this file
# does not name them itself.
OUTSIDE = [
    "shared" + "/",
    "design" + " §",
    "identifiers" + ".md",
    "cases" + ".md",
    "style" + ".md",
    "design" + ".md",
    "steering" + " notes",
]


def _text_files() -> list[Path]:
    out = [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    for folder in ("docs", "seeds", "src", "tests", "examples", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".md", ".py", ".toml", ".txt", ".csv"} and path.is_file():
                out.append(path)
    return out


def test_nothing_points_outside_the_repository() -> None:
    bad = []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        bad += [f"{path.relative_to(ROOT)}: {word}" for word in OUTSIDE if word in text]
    assert bad == []


def test_markdown_links_resolve() -> None:
    broken = []
    for path in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "seeds" / "README.md",
    ]:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []


def _summary() -> dict[str, tuple[str, str]]:
    """kind -> (default action cell, with-sensitive cell) from the summary table."""
    rows = re.findall(
        r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| [^|]+ \|$",
        FINDINGS.read_text(encoding="utf-8").split("## Identifiers")[0],
        re.M,
    )
    return {kind: (plain.strip(), sensitive.strip()) for kind, plain, sensitive in rows}


def test_findings_page_lists_every_kind_once() -> None:
    summary = _summary()
    assert set(summary) == DOCUMENTED_KINDS
    text = FINDINGS.read_text(encoding="utf-8")
    for kind in DOCUMENTED_KINDS - IDENTIFIER_KINDS:
        assert f"**`{kind}`**" in text, f"{kind} has no description"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_findings_page_gives_the_default_actions(kind: str) -> None:
    policy = Policy.default()
    plain, sensitive = _summary()[kind]
    # The first word of each cell is the policy's action; what follows explains it.
    assert plain.split()[0] == policy.action_for(kind, sensitive=False).value
    assert sensitive.split()[0] == policy.action_for(kind, sensitive=True).value


def test_findings_page_examples_are_real_json_of_documented_kinds() -> None:
    blocks = re.findall(r"```json\n(.*?)```", FINDINGS.read_text(encoding="utf-8"), re.S)
    kinds = [json.loads(block)["kind"] for block in blocks]
    assert set(kinds) <= DOCUMENTED_KINDS
    assert set(kinds) >= DOCUMENTED_KINDS - IDENTIFIER_KINDS | {"nir"}


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("nir", NIR),
        ("rib", RIB),
        ("iban", IBAN),
        ("be_niss", NISS),
        ("qc_nam", NAM),
        ("ca_sin", SIN),
    ],
)
def test_findings_page_shows_the_real_masked_forms(kind: str, value: str) -> None:
    text = FINDINGS.read_text(encoding="utf-8")
    row = re.search(rf"^\| `{kind}` \|.*\| `([^`]+)` \|$", text.split("## Identifiers")[1], re.M)
    assert row is not None, f"{kind} has no masked example"
    detector = detectors.get(kind)
    assert row.group(1) == detector.mask(detector.compact(value).removeprefix("NAS"))
