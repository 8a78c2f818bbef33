"""The JSON the CLI prints is exactly what ``json.dump(..., indent=2)`` writes, made
faster for long lists of findings."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakguard.cli import _output
from leakguard.cli._output import Findings, Flat, dump_json
from leakguard.core import Finding, Lang, Location, Severity

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(st.integers(), inner, max_size=2),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), VALUES, max_size=5))
def test_dump_json_equals_the_json_module(doc: dict[str, Any]) -> None:
    out = io.StringIO()
    dump_json(doc, out)
    assert out.getvalue() == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def test_findings_are_written_as_the_json_module_writes_them() -> None:
    finding = {
        "kind": "nir",
        "location": "attachment:export « été ».csv",
        "severity": "high",
        "masked": "1 ** ** ** *** *45 29",
        "fingerprint": "0123456789abcdef0123",
        "confidence": 0.6,
        "message": 'Contient un numéro de sécurité sociale : "1 ** ** ** *** *45 29".\n',
    }
    for findings in ([finding] * 3, Flat([finding] * 3), Flat([finding])):
        doc = {"leakguard": "1.0.0", "messages": [{"source": "a.csv", "findings": findings}]}
        out = io.StringIO()
        dump_json(doc, out)
        assert out.getvalue() == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def test_nested_findings_lists_are_written_as_the_json_module_writes_them() -> None:
    finding = {"kind": "health_data", "location": "body", "detail": "diagnosis", "x": None}
    doc = {"a": [{"b": Flat([finding, finding])}, Flat([{"c": 1.5, "d": True}])]}
    out = io.StringIO()
    dump_json(doc, out)
    assert out.getvalue() == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def test_long_findings_lists_are_written_a_batch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_output, "_BATCH", 3)
    items = [{"kind": "nir", "n": i, "message": "a\nb"} for i in range(8)]
    for n in range(1, 9):
        doc = {"messages": [{"findings": Flat(items[:n])}]}
        out = io.StringIO()
        dump_json(doc, out)
        assert out.getvalue() == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


_KINDS = st.sampled_from(["nir", "rib", "iban", "be_niss", "qc_nam", "ca_sin", "health_data"])


@st.composite
def _findings(draw: st.DrawFn) -> Finding:
    """Findings as the scan makes them, and ones that only look like it: a masked value
    or a place holding quotes, percent signs or control characters, a field an
    identifier finding never carries."""
    return Finding(
        kind=draw(_KINDS),
        location=Location(
            draw(st.sampled_from(["body", "subject", "attachment:"])) + draw(st.text(max_size=8))
        ),
        severity=draw(st.sampled_from(list(Severity))),
        masked=draw(st.none() | st.text(alphabet='0123456789AB* %"\\\n\u2028é', max_size=12)),
        fingerprint=draw(st.none() | st.text(alphabet='0123456789abcdef"%', max_size=20)),
        count=draw(st.none() | st.integers(0, 5)),
        detail=draw(st.none() | st.sampled_from(["diagnosis", "timeout"])),
        confidence=draw(st.sampled_from([1.0, 0.6])),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_findings(), max_size=6), st.sampled_from(["en", "fr"]))
def test_findings_written_from_templates_are_what_the_json_module_writes(
    findings: list[Finding], lang: Lang
) -> None:
    doc = {
        "leakguard": "1.0.0",
        "messages": [{"source": "a", "findings": Findings(findings, lang)}],
    }
    out = io.StringIO()
    dump_json(doc, out)
    dicts = [f.to_dict(lang) for f in findings]
    expected = {"leakguard": "1.0.0", "messages": [{"source": "a", "findings": dicts}]}
    assert out.getvalue() == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"


def test_long_lists_of_findings_are_written_a_batch_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_output, "_BATCH", 3)
    here = Location("attachment:export « 100 % ».csv")
    items = [
        Finding("nir", here, Severity.HIGH, masked=f"1 ** {i}", fingerprint=f"{i:020x}")
        if i % 3
        else Finding("health_data", here, Severity.MEDIUM, detail="diagnosis")
        for i in range(8)
    ]
    for n in range(9):
        out = io.StringIO()
        dump_json({"messages": [{"findings": Findings(items[:n], "fr")}]}, out)
        expected = {"messages": [{"findings": [f.to_dict("fr") for f in items[:n]]}]}
        assert out.getvalue() == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
