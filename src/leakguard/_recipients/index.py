"""Compact hash indexes that find every stored string within a small edit distance.

Symmetric deletion (as in SymSpell): two strings within k edits - substitution,
insertion, deletion or adjacent transposition, optimal string alignment - share a
string obtained by deleting at most k characters from each. Each stored string's
deletion variants are hashed and packed with the string's number into one sorted
``uint64`` array with a table of bucket offsets: a million addresses cost about 400 MB
and no Python object per variant. A lookup hashes the query's own variants, reads their
buckets, and the caller verifies each candidate with an exact distance, so hash
collisions can add candidates but never lose one.

The hash of a string is Python's own hash of the integer whose 32-bit digits are the
string's code points, ``X mod (2**61 - 1)``, spread over 64 bits by an odd multiplier.
A query computes it with a few big-integer operations per variant (C speed); the build
computes the very same values column by column with numpy, where multiplying by
``2**(32k)`` modulo the Mersenne prime is a 61-bit rotation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DeletionIndex",
    "HashIndex",
    "string_hash",
    "variant_hash_array",
    "variant_hashes",
]

_MASK = (1 << 64) - 1
_P = (1 << 61) - 1  # the modulus of Python's integer hash on 64-bit builds
_MIX = 0x9E3779B97F4A7C15  # odd: a bijection of 64-bit values that moves low bits up
_MAX_DEPTH = 2
_MAX_LENGTH = 1100
# Cells hashed at once: bounds the temporary arrays of a build whatever its size.
_CELLS_PER_CHUNK = 1 << 21

U64 = npt.NDArray[np.uint64]

_SHIFT = [32 * i for i in range(_MAX_LENGTH + 2)]
_LOW = [(1 << (32 * i)) - 1 for i in range(_MAX_LENGTH + 2)]


def variant_hashes(text: str, depth: int, /) -> list[int]:
    """Hashes of ``text`` and of every string made by deleting up to ``depth`` characters."""
    x = int.from_bytes(text.encode("utf-32-le"), "little")
    n = len(text)
    low, sh = _LOW, _SHIFT
    out = [(hash(x) * _MIX) & _MASK]
    if depth >= 1:
        out += [(hash((x & low[i]) | ((x >> sh[i + 1]) << sh[i])) * _MIX) & _MASK for i in range(n)]
    if depth >= 2:
        for i in range(n):
            head = x & low[i]
            for j in range(i + 1, n):
                mid = ((x >> sh[i + 1]) & low[j - i - 1]) << sh[i]
                tail = (x >> sh[j + 1]) << sh[j - 1]
                out.append((hash(head | mid | tail) * _MIX) & _MASK)
    return out


def string_hash(text: str, /) -> int:
    """The 64-bit hash of ``text`` used by every index (``variant_hashes(text, 0)[0]``)."""
    return (hash(int.from_bytes(text.encode("utf-32-le"), "little")) * _MIX) & _MASK


_P64 = np.uint64(_P)
_B61 = np.uint64(61)


def _fold(x: U64) -> U64:
    """A value congruent to ``x`` modulo 2**61 - 1 and below 2**61 + 8."""
    return (x & _P64) + (x >> _B61)


def _rotate(x: U64, exponent: npt.NDArray[np.uint64]) -> U64:
    """``x * 2**exponent`` modulo 2**61 - 1, for ``x`` below 2**61."""
    return ((x << exponent) & _P64) | (x >> (_B61 - exponent))


def _hash_block(rows: Sequence[str], n: int, depth: int) -> U64:
    """``variant_hashes`` of equal-length strings, one row of variants per string."""
    m = len(rows)
    if n == 0:
        total = np.zeros((m, 1), dtype=np.uint64)
        return total * np.uint64(_MIX)
    codes = (
        np.frombuffer("".join(rows).encode("utf-32-le"), dtype="<u4")
        .reshape(m, n)
        .astype(np.uint64)
    )
    k = np.arange(n, dtype=np.int64)
    # Weight of code point k when it keeps its place, or moves 1 or 2 places left.
    terms = [_rotate(codes, ((32 * (k - s)) % 61).astype(np.uint64)) for s in range(depth + 1)]
    prefix = np.zeros((m, n + 1), dtype=np.uint64)
    for j in range(n):
        prefix[:, j + 1] = _fold(prefix[:, j] + terms[0][:, j])
    parts = [prefix[:, n:]]
    suffixes = [prefix]
    for s in range(1, depth + 1):
        suffix = np.zeros((m, n + 1), dtype=np.uint64)
        for j in range(n - 1, -1, -1):
            suffix[:, j] = _fold(suffix[:, j + 1] + terms[s][:, j])
        suffixes.append(suffix)
    if depth >= 1:
        parts.append(_fold(prefix[:, :n] + suffixes[1][:, 1:]))
    if depth >= 2 and n >= 2:
        first, second = np.triu_indices(n, k=1)
        s1, s2 = suffixes[1], suffixes[2]
        mid = _fold(s1[:, first + 1] + (np.uint64(4 * _P) - s1[:, second]))
        parts.append(_fold(_fold(prefix[:, first] + mid) + s2[:, second + 1]))
    out = np.concatenate(parts, axis=1)
    out = _fold(out)
    out[out >= _P64] -= _P64
    return out * np.uint64(_MIX)


def _variant_count(n: int, depth: int) -> int:
    count = 1
    if depth >= 1:
        count += n
    if depth >= 2:
        count += n * (n - 1) // 2
    return count


class HashIndex:
    """Sorted ``(hash, number)`` pairs packed into one ``uint64`` array, with buckets.

    The low bits of a key hold the number of the stored item, the high bits the top of
    its hash. A table of bucket offsets over the highest hash bits sends a lookup
    straight to a handful of keys: two memory reads instead of a binary search that
    misses the cache at every level.
    """

    __slots__ = (
        "_id_bits",
        "_id_mask",
        "_key_view",
        "_keys",
        "_off_view",
        "_offsets",
        "_shift",
    )

    def __init__(self, size: int, /) -> None:
        self._id_bits = max(1, (max(size, 1) - 1).bit_length())
        self._id_mask = (1 << self._id_bits) - 1
        self._keys: U64 = np.zeros(0, dtype=np.uint64)
        self._offsets: npt.NDArray[np.unsignedinteger[Any]] = np.zeros(2, dtype=np.uint32)
        self._shift = 63
        self._key_view: memoryview = self._keys.data
        self._off_view: memoryview = self._offsets.data

    # Memory views cannot be pickled: keep the arrays and make the views again.
    def __getstate__(self) -> tuple[int, U64, npt.NDArray[np.unsignedinteger[Any]], int]:
        return (self._id_bits, self._keys, self._offsets, self._shift)

    def __setstate__(
        self, state: tuple[int, U64, npt.NDArray[np.unsignedinteger[Any]], int]
    ) -> None:
        self._id_bits, self._keys, self._offsets, self._shift = state
        self._id_mask = (1 << self._id_bits) - 1
        self._key_view = self._keys.data
        self._off_view = self._offsets.data

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._offsets.nbytes)

    def __len__(self) -> int:
        return len(self._keys)

    def _pack_into(self, out: U64, hashes: U64, ids: npt.NDArray[np.int64]) -> None:
        bits = np.uint64(self._id_bits)
        out[:] = ((hashes >> bits) << bits) | ids.astype(np.uint64)

    def _finish(self, keys: U64) -> None:
        """Sort the keys in place and build the bucket table over them."""
        keys.sort()
        bucket_bits = max(1, min(30, len(keys).bit_length()))
        shift = 64 - bucket_bits
        buckets = 1 << bucket_bits
        offsets: npt.NDArray[np.unsignedinteger[Any]] = np.empty(
            buckets + 1, dtype=np.uint32 if len(keys) < (1 << 32) else np.uint64
        )
        step = 1 << 20
        for start in range(0, buckets, step):
            stop = min(buckets, start + step)
            bounds = np.arange(start, stop, dtype=np.uint64) << np.uint64(shift)
            offsets[start:stop] = np.searchsorted(keys, bounds, side="left")
        offsets[buckets] = len(keys)
        self._keys = keys
        self._offsets = offsets
        self._shift = shift
        self._key_view = keys.data
        self._off_view = offsets.data

    @classmethod
    def from_strings(cls, strings: Iterable[str], ids: Iterable[int], /, *, size: int) -> HashIndex:
        """An index of ``string_hash`` values (the same in every process, unlike ``hash``
        of a string, so a pickled index stays right)."""
        texts = list(strings)
        hashes = np.empty(len(texts), dtype=np.uint64)
        by_length: dict[int, list[int]] = {}
        for i, text in enumerate(texts):
            by_length.setdefault(len(text), []).append(i)
        for n, positions in by_length.items():
            step = max(1, _CELLS_PER_CHUNK // max(n, 1))
            for start in range(0, len(positions), step):
                chunk = positions[start : start + step]
                block = _hash_block([texts[i] for i in chunk], n, 0)
                hashes[np.asarray(chunk, dtype=np.intp)] = block[:, 0]
        return cls.from_hashes(hashes, ids, size=size)

    @classmethod
    def from_hashes(
        cls, hashes: Iterable[int] | U64, ids: Iterable[int], /, *, size: int
    ) -> HashIndex:
        index = cls(size)
        h = hashes if isinstance(hashes, np.ndarray) else np.fromiter(hashes, dtype=np.uint64)
        i = np.fromiter(ids, dtype=np.int64, count=len(h))
        keys = np.empty(len(h), dtype=np.uint64)
        index._pack_into(keys, h, i)
        index._finish(keys)
        return index

    def lookup(self, hashes: Iterable[int], /) -> set[int]:
        """Numbers of every stored item whose hash agrees with one of ``hashes``."""
        found: set[int] = set()
        if not len(self._keys):
            return found
        keys = self._key_view
        offsets = self._off_view
        bits = self._id_bits
        mask = self._id_mask
        shift = self._shift
        for h in hashes:
            bucket = h >> shift
            lo = offsets[bucket]
            hi = offsets[bucket + 1]
            if lo == hi:
                continue
            top = h >> bits
            # Most buckets hold one key: test it before paying for a loop.
            key = keys[lo]
            if key >> bits == top:
                found.add(key & mask)
            lo += 1
            while lo < hi:
                key = keys[lo]
                if key >> bits == top:
                    found.add(key & mask)
                lo += 1
        return found

    def lookup_many(self, hashes: U64, /) -> set[int]:
        """``lookup`` with vector operations: cheaper past a few dozen hashes."""
        if not len(self._keys) or not len(hashes):
            return set()
        buckets = (hashes >> np.uint64(self._shift)).astype(np.intp)
        lo = self._offsets[buckets].astype(np.intp)
        counts = self._offsets[buckets + 1].astype(np.intp) - lo
        total = int(counts.sum())
        if not total:
            return set()
        # Positions of every key of every probed bucket, bucket after bucket.
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        keys = self._keys[starts + np.arange(total)]
        bits = np.uint64(self._id_bits)
        hit = (keys >> bits) == np.repeat(hashes >> bits, counts)
        return set((keys[hit] & np.uint64(self._id_mask)).tolist())


_M31 = np.uint64((1 << 31) - 1)
_B31 = np.uint64(31)
_B30 = np.uint64(30)


def _running_sums(terms: U64) -> U64:
    """Running sums modulo 2**61 - 1, with a leading 0 (exclusive prefix sums).

    Summing 61-bit terms would overflow 64 bits, so the low and high 31-bit halves
    are summed apart and joined again (the high half times 2**31 is a rotation).
    """
    low = np.cumsum(terms & _M31)
    high = np.cumsum(terms >> _B31)
    joined = _fold(low + (((high << _B31) & _P64) | (high >> _B30)))
    return np.concatenate((np.zeros(1, dtype=np.uint64), joined))


@functools.cache
def _pairs(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    first, second = np.triu_indices(n, k=1)
    return first.astype(np.intp), second.astype(np.intp)


def variant_hash_array(text: str, depth: int, /) -> U64:
    """``variant_hashes`` of one string as an array, in a fixed number of vector steps.

    Worth it for depth 2, where a string of 30 characters has over 400 variants.
    """
    n = len(text)
    if n == 0 or depth == 0:
        return np.array(variant_hashes(text, depth), dtype=np.uint64)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    k = np.arange(n, dtype=np.int64)
    prefix = _running_sums(_rotate(codes, ((32 * k) % 61).astype(np.uint64)))
    parts = [prefix[n:]]
    # suffix[s][i]: the characters from i on, each moved s places left.
    suffix = [prefix]
    for s in range(1, depth + 1):
        running = _running_sums(_rotate(codes, ((32 * (k - s)) % 61).astype(np.uint64)))
        suffix.append(_fold(running[n] + (np.uint64(4 * _P) - running)))
    parts.append(_fold(prefix[:n] + suffix[1][1:]))
    if depth >= 2 and n >= 2:
        first, second = _pairs(n)
        s1, s2 = suffix[1], suffix[2]
        mid = _fold(s1[first + 1] + (np.uint64(4 * _P) - s1[second]))
        parts.append(_fold(_fold(prefix[first] + mid) + s2[second + 1]))
    out = _fold(np.concatenate(parts))
    out[out >= _P64] -= _P64
    return out * np.uint64(_MIX)


class DeletionIndex(HashIndex):
    """Every stored string's deletion variants, for edit-distance candidate search.

    ``depths[i]`` is how many deletions string ``i`` is indexed with (0, 1 or 2): the
    largest distance at which it must be found.
    """

    __slots__ = ()

    @classmethod
    def build(cls, strings: Sequence[str], depths: Sequence[int] | int, /) -> DeletionIndex:
        """Index ``strings``, each with its own depth or all with the same one."""
        index = cls(len(strings))
        groups: dict[tuple[int, int], list[int]] = {}
        each = [depths] * len(strings) if isinstance(depths, int) else depths
        for d in set(each):
            if not 0 <= d <= _MAX_DEPTH:
                raise ValueError(f"deletion depth must be 0, 1 or 2, not {d}")
        for i, (s, d) in enumerate(zip(strings, each, strict=True)):
            groups.setdefault((len(s), d), []).append(i)
        total = sum(_variant_count(n, d) * len(ids) for (n, d), ids in groups.items())
        keys = np.empty(total, dtype=np.uint64)
        at = 0
        for (n, d), ids in sorted(groups.items()):
            width = _variant_count(n, d)
            step = max(1, _CELLS_PER_CHUNK // max(width, n + 1))
            for start in range(0, len(ids), step):
                chunk = ids[start : start + step]
                block = _hash_block([strings[i] for i in chunk], n, d)
                owners = np.repeat(np.asarray(chunk, dtype=np.int64), width)
                size = block.size
                index._pack_into(keys[at : at + size], block.reshape(-1), owners)
                at += size
        index._finish(keys)
        return index
