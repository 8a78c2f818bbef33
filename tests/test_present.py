"""The search for a few fixed strings in a long text (``holding``): the compiled
engine's one pass answers what a search for each string answers, and a character
beyond Latin-1 inside a word does not make the word."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakguard.detectors import _present, health_data
from leakguard.extract.encoded import encoded_files

NEEDLES = (b"begin", b"guichet", b"(This file must be converted with BinHex")

needs_engine = pytest.mark.skipif(not health_data.COMPILED, reason="no compiled engine here")


def _pure(text: str) -> frozenset[bytes]:
    return frozenset(n for n in NEEDLES if n.decode("ascii") in text)


TEXTS = st.lists(
    st.one_of(
        st.sampled_from(["begin", "beg", "in", "guichet", "gui", "chet", " ", "\n"]),
        st.sampled_from(["(This file must be converted with BinHex", "\u0101", "é", "\U0001f600"]),
        st.text(max_size=5),
    ),
    max_size=40,
).map("".join)


@needs_engine
@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_the_compiled_pass_answers_what_each_search_answers(text: str) -> None:
    saved = _present._LONG
    _present._LONG = 0  # every text through the compiled engine
    try:
        assert _present.holding(text, NEEDLES) == _pure(text)
        raw = text.encode("utf-8")
        assert _present.holding(raw, NEEDLES) == frozenset(n for n in NEEDLES if n in raw)
    finally:
        _present._LONG = saved


@needs_engine
@settings(max_examples=200, deadline=None)
@given(TEXTS, st.integers(1, 60))
def test_a_text_read_a_slice_at_a_time_answers_the_same(text: str, size: int) -> None:
    # A long text goes to the engine in slices: a needle across any cut is found.
    saved = _present._LONG, _present._SLICE
    _present._LONG, _present._SLICE = 0, size
    try:
        assert _present.holding(text, NEEDLES) == _pure(text)
    finally:
        _present._LONG, _present._SLICE = saved


@needs_engine
def test_a_needle_across_each_cut_is_found() -> None:
    cut = _present._SLICE
    for needle in NEEDLES:
        word = needle.decode("ascii")
        for back in range(1, len(word)):
            text = "x" * (cut - back) + word + " patient" * 10_000
            assert _present.holding(text, NEEDLES) == {needle}, (word[:5], back)


@needs_engine
def test_a_character_beyond_latin1_inside_a_word_does_not_make_it() -> None:
    filler = "patient " * 20_000  # a long text: the compiled pass reads it
    assert _present.holding(filler + "beg\u0101in", NEEDLES) == frozenset()
    assert _present.holding(filler + "\u0101begin\U0001f600", NEEDLES) == {b"begin"}


def test_the_pure_path_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_data, "COMPILED", False)
    text = "patient " * 20_000 + "code guichet"
    assert _present.holding(text, NEEDLES) == {b"guichet"}
    assert _present.holding(text.encode("latin-1"), NEEDLES) == {b"guichet"}


def test_a_file_uuencoded_at_the_end_of_a_long_text_is_found() -> None:
    # The markers of a long text are looked for in one pass: a file written after
    # 600 KB of prose is still decoded.
    body = "begin 644 note.txt\n" + "-3DE2(&EN(&$@9FEL90``\n" + "`\nend\n"
    text = "le patient est venu en consultation.\n" * 16_000 + body
    found = encoded_files(text, 1 << 20)
    assert [f.name for f in found] == ["note.txt"]
    assert found[0].data.startswith(b"NIR in a file")
