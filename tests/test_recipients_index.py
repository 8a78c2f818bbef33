"""The lookalike index finds exactly what an exhaustive comparison finds."""

from __future__ import annotations

import numpy as np
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from leakguard._recipients.addresses import _quick, lenient, strict
from leakguard._recipients.index import (
    DeletionIndex,
    HashIndex,
    _hash_block,
    string_hash,
    variant_hash_array,
    variant_hashes,
)
from leakguard.recipients import Directory, RecipientGuard, skeleton


def _deletions(text: str, depth: int) -> list[str]:
    out = [text]
    if depth >= 1:
        out += [text[:i] + text[i + 1 :] for i in range(len(text))]
    if depth >= 2:
        out += [
            text[:i] + text[i + 1 : j] + text[j + 1 :]
            for i in range(len(text))
            for j in range(i + 1, len(text))
        ]
    return out


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=14
)


@settings(max_examples=200, deadline=None)
@given(text=TEXT, depth=st.integers(min_value=0, max_value=2))
def test_variant_hashes_are_the_hashes_of_the_deleted_strings(text: str, depth: int) -> None:
    expected = [variant_hashes(v, 0)[0] for v in _deletions(text, depth)]
    assert variant_hashes(text, depth) == expected


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(TEXT, min_size=1, max_size=6), depth=st.integers(min_value=0, max_value=2))
def test_vectorised_build_hashes_match_the_query_hashes(rows: list[str], depth: int) -> None:
    n = len(rows[0])
    rows = [r for r in rows if len(r) == n]
    block = _hash_block(rows, n, depth)
    for row, hashes in zip(rows, block, strict=True):
        assert [int(h) for h in hashes] == variant_hashes(row, depth)


@settings(max_examples=150, deadline=None)
@given(text=TEXT, depth=st.integers(min_value=0, max_value=2))
def test_one_row_vector_hashes_match(text: str, depth: int) -> None:
    assert variant_hash_array(text, depth).tolist() == variant_hashes(text, depth)


WORD = st.text(alphabet="abc@.", min_size=0, max_size=7)


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(WORD, min_size=0, max_size=40, unique=True),
    queries=st.lists(st.text(alphabet="abcd@.", max_size=8), min_size=1, max_size=10),
    depth=st.integers(min_value=0, max_value=2),
)
def test_deletion_index_candidates_hold_every_near_string(
    words: list[str], queries: list[str], depth: int
) -> None:
    index = DeletionIndex.build(words, depth)
    for query in queries:
        candidates = index.lookup(variant_hashes(query, depth))
        near = {i for i, w in enumerate(words) if OSA.distance(query, w) <= depth}
        assert near <= candidates
        assert index.lookup_many(variant_hash_array(query, depth)) == candidates


def test_hash_index_finds_strings_and_nothing_else() -> None:
    words = [f"w{i}" for i in range(1000)]
    index = HashIndex.from_strings(words, range(len(words)), size=len(words))
    assert index.lookup([string_hash("w17")]) == {17}
    assert index.lookup([string_hash("absent")]) <= {0}
    assert string_hash("w17") == variant_hashes("w17", 0)[0]
    empty = HashIndex.from_strings([], [], size=0)
    assert empty.lookup([123]) == set()


def test_buckets_with_many_equal_keys() -> None:
    # Sixty addresses that share a deletion variant land in one bucket.
    words = [f"{c}.martin@x.fr" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    index = DeletionIndex.build(words, 1)
    found = index.lookup(variant_hashes("z.martin@x.fr", 1))
    assert set(range(len(words))) <= found


# --------------------------------------------------------------------------- guard vs brute

LOCAL = st.text(alphabet="abcd", min_size=1, max_size=9)
DOMAIN = st.sampled_from(["ab.fr", "ac.fr", "abc.fr"])


@st.composite
def small_directory(draw: st.DrawFn) -> list[str]:
    locals_ = draw(st.lists(LOCAL, min_size=1, max_size=30))
    return sorted({f"{local}@{draw(DOMAIN)}" for local in locals_})


def _brute(guard: RecipientGuard, directory: Directory, query: str) -> dict[str, int]:
    q = lenient(query)
    if q in directory:
        return {}
    out: dict[str, int] = {}
    for colleague in directory:
        c = colleague.address
        limit = guard._threshold(c)
        d = OSA.distance(q, c)
        if d <= limit or skeleton(q) == skeleton(c):
            out[c] = d
    return out


@settings(max_examples=200, deadline=None)
@given(
    addresses=small_directory(),
    queries=st.lists(
        st.tuples(LOCAL, DOMAIN).map(lambda t: f"{t[0]}@{t[1]}"), min_size=1, max_size=8
    ),
    mutations=st.lists(
        st.tuples(st.integers(0, 99), st.integers(0, 40), st.sampled_from("abcd.@")),
        max_size=8,
    ),
    settings_=st.sampled_from([(1, None, 24), (2, None, 24), (1, 2, 9), (0, 2, 11), (0, None, 1)]),
)
def test_guard_search_is_identical_to_exhaustive_search(
    addresses: list[str],
    queries: list[str],
    mutations: list[tuple[int, int, str]],
    settings_: tuple[int, int | None, int],
) -> None:
    max_distance, long_distance, long_length = settings_
    directory = Directory.from_addresses(addresses)
    guard = RecipientGuard(
        directory,
        max_distance=max_distance,
        long_address_distance=long_distance,
        long_address_length=long_length,
    )
    # Edited copies of colleagues' addresses give many near misses.
    for which, pos, char in mutations:
        source = addresses[which % len(addresses)]
        i = pos % len(source)
        queries.append(source[:i] + char + source[i + 1 :])
        queries.append(source[:i] + source[i + 1 :])
    for query in queries:
        got = {m.address: m.distance for m in guard.lookalikes(query)}
        assert got == _brute(guard, directory, query), query


# --------------------------------------------------------------------------- addresses

LABEL = st.text(alphabet="aB9-", min_size=1, max_size=5) | st.sampled_from(["xn--p1ai", "ab--c"])
LOCAL_PART = st.lists(st.text(alphabet="abC9_+'-", min_size=1, max_size=4), min_size=1, max_size=3)
ASCII_ADDRESS = st.text(alphabet="aZ09.-_+@xn", min_size=1, max_size=20) | st.builds(
    lambda words, labels, tld: f"{'.'.join(words)}@{'.'.join([*labels, tld])}",
    LOCAL_PART,
    st.lists(LABEL, min_size=1, max_size=3),
    st.sampled_from(["fr", "COM", "c0m", "test", "local", "x1", "xn--p1ai", "-fr", "a", ""]),
)


@settings(max_examples=300, deadline=None)
@given(address=ASCII_ADDRESS)
def test_quick_path_agrees_with_email_validator(address: str) -> None:
    quick = _quick(address)
    if quick is None:
        return  # email-validator decides alone
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:  # pragma: no cover - shown on failure only
        raise AssertionError(f"quick path accepted what email-validator refuses: {exc}") from exc
    assert quick == f"{result.local_part.lower()}@{result.domain}"


def test_quick_path_takes_the_common_shapes() -> None:
    for address in ("jean.dupont@chu-rouen.fr", "J.Dupont2@CHU-Rouen.FR", "a+b@x.co.uk"):
        assert _quick(address) is not None
    for address in ("a@b", "a@localhost", "a@x.test", "a..b@x.fr", "a@xn--bcher-kva.fr"):
        assert _quick(address) is None


def test_strict_and_lenient_forms() -> None:
    assert strict("Jean.Dupont@CHU-Rouen.FR") == "jean.dupont@chu-rouen.fr"
    assert strict("chef@XN--BCHER-KVA.example") == "chef@bücher.example"
    assert lenient("Jean..Dupont@X.FR") == "jean..dupont@x.fr"
    assert lenient("no-at-sign") == "no-at-sign"
    assert np.uint64(0) == 0  # numpy is importable alongside the index


def test_a_pickled_guard_still_finds_everything() -> None:
    import pickle
    import subprocess
    import sys

    directory = Directory.from_addresses([("jean.dupont@chu-rouen.fr", "Jean Dupont")])
    data = pickle.dumps(RecipientGuard(directory))
    # Another interpreter has another string-hash seed: the indexes must not depend on it.
    code = (
        "import pickle, sys\n"
        "from leakguard.core import Location\n"
        "guard = pickle.loads(sys.stdin.buffer.read())\n"
        "to = Location.header('to')\n"
        "found = guard.check([('Jean Dupont', 'j\u0435an.dupont@chu-rouen.fr', to)])\n"
        "print(sorted(f.kind for f in found))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True
    ).stdout.decode()
    assert out.strip() == "['display_name_mismatch', 'lookalike_recipient']"
