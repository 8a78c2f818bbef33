"""Medical context (kind ``health_data``): vocabulary in French, Dutch and English,
ICD-10 codes next to a diagnosis word, CCAM act codes next to an act word or in a list.

Each occurrence gives a ``Match`` whose ``compact`` is its category (``diagnosis``,
``sick_leave``, ``medical_code``…), never the text. Words match whole, ignoring case
and accents; acronyms (``ALD``, ``AME``) match in capitals only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from leakguard.detectors._base import LEFT, RIGHT, Match
from leakguard.detectors._lexicon import (
    CCAM_CONTEXT,
    HEALTH_ACRONYMS,
    HEALTH_WORDS,
    ICD_CONTEXT,
    fold_pattern,
)

__all__ = ["CATEGORIES", "KIND", "PATTERN", "find"]

KIND = "health_data"
CATEGORIES = (*HEALTH_WORDS, "medical_code")
# How far a CIM/ICD/diagnosis word may be from a code, and a CCAM code from another one.
CODE_RADIUS = 60
CCAM_LIST_RADIUS = 120


def _build() -> re.Pattern[str]:
    groups: list[str] = []
    for category, langs in HEALTH_WORDS.items():
        phrases = sorted({p for ws in langs.values() for p in ws}, key=len, reverse=True)
        alt = "(?i:" + "|".join(fold_pattern(p) for p in phrases) + ")"
        acr = HEALTH_ACRONYMS.get(category, ())
        if acr:
            alt += "|" + "|".join(re.escape(a) for a in sorted(acr, key=len, reverse=True))
        groups.append(f"(?P<{category}>{alt})")
    return re.compile(LEFT + "(?:" + "|".join(groups) + ")" + RIGHT)


PATTERN = _build()
ICD_CODE = re.compile(LEFT + r"[A-Z][0-9]{2}(?:\.[0-9]{1,2})?" + RIGHT)
CCAM_CODE = re.compile(LEFT + r"[A-Z]{4}[0-9]{3}" + RIGHT)


def _words(text: str) -> Iterator[Match]:
    for m in PATTERN.finditer(text):
        category = m.lastgroup or "care"
        yield Match(KIND, m.start(), m.end(), category)


def _icd(text: str) -> Iterator[Match]:
    # Codes are looked for only around a diagnosis word: such words are rare, codes'
    # shapes ("A12", "B52") are not.
    for ctx in ICD_CONTEXT.finditer(text):
        lo = max(0, ctx.start() - CODE_RADIUS)
        hi = ctx.end() + CODE_RADIUS
        for m in ICD_CODE.finditer(text, lo):
            if m.start() > hi:
                break
            yield Match(KIND, m.start(), m.end(), "medical_code")


def _ccam(text: str) -> Iterator[Match]:
    codes = list(CCAM_CODE.finditer(text))
    for i, m in enumerate(codes):
        listed = (i > 0 and m.start() - codes[i - 1].end() <= CCAM_LIST_RADIUS) or (
            i + 1 < len(codes) and codes[i + 1].start() - m.end() <= CCAM_LIST_RADIUS
        )
        lo = max(0, m.start() - CODE_RADIUS)
        hi = min(len(text), m.end() + CODE_RADIUS)
        if listed or CCAM_CONTEXT.search(text, lo, hi):
            yield Match(KIND, m.start(), m.end(), "medical_code")


def _sorted(found: list[Match]) -> list[Match]:
    found.sort(key=lambda x: (x.start, x.end))
    out: list[Match] = []
    for m in found:
        if out and out[-1].start == m.start and out[-1].end == m.end:
            continue
        out.append(m)
    return out


def find(text: str, /) -> Iterator[Match]:
    """Every medical word or code in ``text``, left to right, never raising."""
    if not isinstance(text, str):
        return iter(())
    found = list(_words(text))
    found.extend(_ccam(text))
    found.extend(_icd(text))
    return iter(_sorted(found))
