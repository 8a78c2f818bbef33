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
from leakguard.cli._output import Flat, dump_json

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
