"""The batch engine: shards read what the archive readers read, in order, however the
inputs are cut; dead workers lose nothing; partial results merge associatively."""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_factory import DOCTOR, clinic_message, mixed_archive, write_emls, write_mbox
from leakguard import Guard
from leakguard.archives import ArchiveError, iter_messages
from leakguard.archives._read import _mbox
from leakguard.batch import affected, check, scan
from leakguard.batch._context import Context, new_token
from leakguard.batch._engine import Inline, Processes, run_task, stream
from leakguard.batch._shards import Item, MboxRange, mbox_ranges, plan
from leakguard.batch._tasks import AffectedPart, Outcome, Value
from leakguard.core import Fingerprinter
from leakguard.correspondents._store import Tally
from leakguard.learn import LearnPart, learn
from pst_sample import SampleUnavailable, enron_pst


@dataclass(frozen=True)
class Echo:
    """A task that checks nothing: each item's source, error and a digest of its bytes."""

    lang: str = "en"

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], None]:
        out = []
        for item in items:
            error = item.error.message("en") if item.error is not None else None
            digest = hashlib.sha256(item.data).hexdigest()
            out.append(Outcome(item.source, error=error, recipients=(digest,)))
        return out, None

    def merge(self, left: None, right: None) -> None:
        return None


_NOTHING = hashlib.sha256(b"").hexdigest()


def _echo(outcomes: Iterable[Outcome]) -> list[tuple[str, str | None, str]]:
    # An input the planner could not read has no item, hence no digest: it read nothing.
    return [(o.source, o.error, o.recipients[0] if o.recipients else _NOTHING) for o in outcomes]


def _read(path: Path, reader: Any = iter_messages) -> list[tuple[str, str | None, str]]:
    """What the archive readers give, in the shape of an Echo outcome."""
    out = []
    for m in reader(path):
        error = m.error.message("en") if m.error is not None else None
        out.append((m.source, error, hashlib.sha256(m.data).hexdigest()))
    return out


def _run_echo(paths: list[Path], **options: Any) -> list[tuple[str, str | None, str]]:
    done = run_task(
        Echo(),  # type: ignore[arg-type]
        [str(p) for p in paths],
        context=Context(Fingerprinter()),
        reading="learn",
        **options,
    )
    return _echo(o for d in done if d.result is not None for o in d.result.outcomes)


# --------------------------------------------------------------------------- mbox ranges

_LINE = st.sampled_from(
    [
        b"Subject: x",
        b"",
        b"text",
        b"From here on, a line that mail programs quote",
        b">From a quoted line",
        b">>From twice quoted",
        b"Fromage",
        b"From",
        b"  From indented",
        b"line\r",
    ]
)
_MESSAGE = st.lists(_LINE, min_size=0, max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(_MESSAGE, min_size=1, max_size=12),
    junk=st.sampled_from([b"", b"junk before the first From line\n", b"\xef\xbb\xbf"]),
    step=st.integers(min_value=1, max_value=400),
    data=st.data(),
)
def test_an_mbox_cut_anywhere_gives_the_messages_the_reader_gives(
    tmp_path_factory: pytest.TempPathFactory,
    messages: list[list[bytes]],
    junk: bytes,
    step: int,
    data: st.DataObject,
) -> None:
    blob = bytearray(junk)
    for n, lines in enumerate(messages):
        blob += f"From sender{n}@example.org Mon Nov 23 09:00:00 2026\n".encode()
        blob += b"".join(line + b"\n" for line in lines)
        if data.draw(st.booleans()):
            blob += b"\n"
    path = tmp_path_factory.mktemp("mbox") / "box.mbox"
    path.write_bytes(bytes(blob))
    shards = list(mbox_ranges(path, step))
    # The ranges cover the file, end to end, each cut at the start of a From line.
    assert all(isinstance(s, MboxRange) for s in shards)
    ranges = [(s.start, s.end) for s in shards if isinstance(s, MboxRange)]
    assert ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(blob[start - 1 : start + 5] == b"\nFrom " for start, _ in ranges[1:])
    backend = Inline(new_token(), Context(Fingerprinter()))
    got = stream(Echo(), iter(shards), backend)  # type: ignore[arg-type]
    whole = _read(path, _mbox)  # the mbox reader over the whole file
    assert _echo(o for d in got if d.result for o in d.result.outcomes) == whole


def test_planned_shards_of_every_kind_read_as_the_readers_read(tmp_path: Path) -> None:
    inputs = mixed_archive(tmp_path, 80)
    tree = tmp_path / "tree"
    write_emls(tree / "a", [clinic_message(i) for i in range(100, 103)])
    (tree / "b").mkdir()
    write_mbox(tree / "b" / "Sent", [clinic_message(i) for i in range(103, 140)])
    inputs.append(tree)
    expected = [row for p in inputs for row in _read(p)]
    for size in (1, 3, 16, 1000):
        shards = list(plan([str(p) for p in inputs], reading="learn", size=size))
        assert _run_echo(inputs, jobs=1, shard_size=size) == expected, size
        if size == 1:
            assert sum(isinstance(s, MboxRange) for s in shards) > 10
    assert _run_echo(inputs, jobs=2, shard_size=5) == expected


def test_a_pst_is_cut_into_ranges_of_its_folders() -> None:
    try:
        pst = enron_pst()
    except SampleUnavailable as exc:
        pytest.fail(str(exc))
    expected = _read(pst)
    assert len(expected) == 71
    shards = [s for s in plan([str(pst)], reading="learn", size=10) if hasattr(s, "part")]
    assert len(shards) == 10  # folders of 1, 14, 7, 2 and 47 items
    # A rebuilt item's MIME boundaries are drawn at random: the sources must agree.
    got = _run_echo([pst], jobs=2, shard_size=10)
    assert [row[:2] for row in got] == [row[:2] for row in expected]


class _Folder:
    """A PST folder as libpff shows it, with damage where ``broken`` says: a message
    (``"m<i>"``), the count of messages or of sub-folders, or a sub-folder (``"f<i>"``)."""

    def __init__(self, messages: int, subs: list[_Folder], broken: set[str] = frozenset()):  # type: ignore[assignment]
        self.messages, self.subs, self.broken = messages, subs, broken

    def get_number_of_sub_messages(self) -> int:
        if "messages" in self.broken:
            raise OSError("damaged")
        return self.messages

    def get_sub_message(self, i: int) -> object:
        if f"m{i}" in self.broken:
            raise OSError("damaged")
        return object()  # not a message: rebuilding it fails (AttributeError)

    def get_number_of_sub_folders(self) -> int:
        if "folders" in self.broken:
            raise ValueError("damaged")
        return len(self.subs)

    def get_sub_folder(self, i: int) -> _Folder:
        if f"f{i}" in self.broken:
            raise LookupError("damaged")
        return self.subs[i]


class _Pst:
    def __init__(self, root: _Folder) -> None:
        self.root = root

    def get_root_folder(self) -> _Folder:
        return self.root

    def close(self) -> None:
        return None


def test_a_damaged_pst_cut_into_ranges_reports_what_the_whole_read_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakguard.archives import _pst

    root = _Folder(
        2,
        [
            _Folder(5, [], {"m1", "m4"}),
            _Folder(3, [_Folder(4, [])], {"messages"}),
            _Folder(0, [_Folder(2, [])], {"folders"}),
            _Folder(1, [_Folder(1, []), _Folder(6, [])], {"f0"}),
        ],
    )
    monkeypatch.setattr(_pst, "_open", lambda path: _Pst(root))
    box = tmp_path / "Mailbox.pst"
    box.write_bytes(b"!BDN" + bytes(60))
    whole = _read(box)
    errors = [row[1] for row in whole]
    assert len(whole) == 2 + 5 + 1 + 4 + 1 + 1 + 1 + 6
    assert sum("(OSError)" in (e or "") for e in errors) == 3
    assert sum("(ValueError)" in (e or "") or "(LookupError)" in (e or "") for e in errors) == 2
    for size in (1, 2, 5):
        assert _run_echo([box], jobs=1, shard_size=size) == whole, size


# --------------------------------------------------------------------------- dead workers


@dataclass(frozen=True)
class Poison:
    """A task whose worker dies on a message saying POISON, as a crash in a native
    document reader would kill it."""

    lang: str = "en"

    def run(self, context: Context, items: Iterable[Item]) -> tuple[list[Outcome], None]:
        out = []
        for item in items:
            if b"POISON" in item.data:
                os._exit(3)
            out.append(Outcome(item.source))
        return out, None

    def merge(self, left: None, right: None) -> None:
        return None


def test_a_dead_worker_loses_no_message(tmp_path: Path) -> None:
    poison = {40, 41, 150}
    raws = [b"Subject: POISON\n\nx\n" if i in poison else clinic_message(i) for i in range(200)]
    box = write_mbox(tmp_path / "Sent.mbox", raws)
    missing = tmp_path / "unreadable.eml"
    backend = Processes(2, new_token(), Context(Fingerprinter()))
    shards = plan([str(box), str(missing)], reading="check", size=16)
    got = [o for d in stream(Poison(), shards, backend) if d.result for o in d.result.outcomes]  # type: ignore[arg-type]
    sources = [m.source for m in iter_messages(box)] + [str(missing)]
    assert [o.source for o in got] == sources
    lost = {o.source.split(" ")[0]: o.error for o in got if o.error is not None}
    why = "the worker process checking this message stopped unexpectedly"
    assert lost == {
        f"{box}#41": why,
        f"{box}#42": why,
        f"{box}#151": why,
        str(missing): "no such file",
    }


@dataclass(frozen=True, slots=True)
class Blind(MboxRange):
    """A range its worker cannot read (the share is not mounted there), which this
    machine can."""

    def items(self) -> Iterator[Item]:
        why = ArchiveError("cannot read this archive (No such file or directory)")
        yield Item(self.path, b"", error=why, numbered=False)


def test_a_range_its_worker_cannot_read_is_said_once_and_the_rest_keep_their_numbers(
    tmp_path: Path,
) -> None:
    box = write_mbox(tmp_path / "Sent.mbox", [clinic_message(i) for i in range(60)])
    shards = list(plan([str(box)], reading="learn", size=8))
    ranges = [i for i, s in enumerate(shards) if isinstance(s, MboxRange)]
    assert len(ranges) >= 4
    blind = set(ranges[1:3])
    shards = [
        Blind(s.path, s.start, s.end) if i in blind and isinstance(s, MboxRange) else s
        for i, s in enumerate(shards)
    ]
    seen: list[int] = []
    backend = Inline(new_token(), Context(Fingerprinter()))
    done = list(stream(Echo(), iter(shards), backend, progress=seen.append))  # type: ignore[arg-type]
    got = _echo(o for d in done if d.result for o in d.result.outcomes)
    # The digests of the messages in the ranges no worker could read.
    unread = {
        row[2]
        for s in shards
        if isinstance(s, Blind)
        for row in _read(box, lambda p, s=s: _mbox(p, s.start, s.end))
    }
    assert 8 <= len(unread) < 40
    errors = [row for row in got if row[1] is not None]
    # One line for the file, however many of its ranges failed; every other message
    # keeps the number it has in the whole file.
    assert [row[:2] for row in errors] == [
        (str(box), "cannot read this archive (No such file or directory)")
    ]
    read = [row for row in got if row[1] is None]
    assert read == [row for row in _read(box) if row[2] not in unread]
    assert len(read) == 60 - len(unread)
    assert sum(seen) == len(read) + len(blind)


# --------------------------------------------------------------------------- check, scan


def test_check_and_scan_give_the_same_outcomes_however_the_work_is_split(
    tmp_path: Path,
) -> None:
    inputs = [str(p) for p in mixed_archive(tmp_path, 60)]
    guard = Guard()

    def answers(outcomes: Iterable[Outcome]) -> list[tuple[str, str | None, list[str]]]:
        rows = []
        for o in outcomes:
            action = o.verdict.action.value if o.verdict else o.error
            found = o.verdict.findings if o.verdict else o.findings
            rows.append((o.source, action, sorted(f.kind for f in found)))
        return rows

    one = answers(check(inputs, guard=guard, jobs=1, shard_size=1000))
    assert len(one) == 60 and all(row[1] in ("allow", "warn", "encrypt") for row in one)
    assert answers(check(inputs, guard=guard, jobs=2, shard_size=3)) == one
    fp = Fingerprinter()
    alone = answers(scan(inputs, fingerprinter=fp, jobs=1))
    assert answers(scan(inputs, fingerprinter=fp, jobs=2, shard_size=7)) == alone


def test_each_message_keeps_its_time_budget_in_the_worker_processes(tmp_path: Path) -> None:
    from dataclasses import replace

    from leakguard.extract import Limits

    inputs = [str(p) for p in mixed_archive(tmp_path, 12)]
    guard = Guard()
    # A budget already spent when each message starts: every one says it was cut short,
    # whichever process checked it (the time is each message's, not the run's).
    guard.limits = replace(guard.limits, max_seconds=1e-9)
    checked = list(check(inputs, guard=guard, jobs=2, shard_size=2))
    scanned = list(scan(inputs, limits=Limits(max_seconds=1e-9), jobs=2, shard_size=2))
    for outcomes in (checked, scanned):
        assert len(outcomes) == 12
        for o in outcomes:
            found = o.verdict.findings if o.verdict else o.findings
            assert "timeout" in {f.detail for f in found}, o.source
    assert all(o.verdict and o.verdict.action.value != "allow" for o in checked)
    # With the default budget nothing is cut.
    assert not any(
        f.detail == "timeout" for o in scan(inputs, jobs=2, shard_size=2) for f in o.findings
    )


# --------------------------------------------------------------------------- merges

_ADDRESS = st.sampled_from(["a@x.org", "b@x.org", "c@y.org", "d@y.org", "e@z.org"])
_NAME = st.sampled_from(["", "Anne", "Bruno", "Chloé", "Dr Martin", "Anne  B.", "x1"])
_FACT = st.tuples(
    st.integers(min_value=0, max_value=30),  # Message-ID hash: duplicates happen
    st.one_of(st.none(), st.integers(min_value=1_600_000_000, max_value=1_700_000_000)),
    st.lists(st.tuples(_ADDRESS, _NAME), min_size=1, max_size=4),
    st.booleans(),
)


def _tally(facts: list[tuple[int, int | None, list[tuple[str, str]], bool]]) -> Tally:
    tally = Tally()
    for key, when, recipients, sensitive in facts:
        tally.add(key, when, recipients, sensitive)
    return tally


def _part(facts: list[tuple[int, int | None, list[tuple[str, str]], bool]]) -> LearnPart:
    part = LearnPart()
    for fact in facts:
        part.read += 1
        part.add(*fact)
    return part


def _split(items: list[Any], cuts: list[int]) -> list[list[Any]]:
    points = sorted({min(c, len(items)) for c in cuts})
    bounds = [0, *points, len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None)
@given(
    facts=st.lists(_FACT, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
    other=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
)
def test_learned_parts_merge_into_the_tally_of_one_pass_however_split(
    facts: list[Any], cuts: list[int], other: list[int]
) -> None:
    whole = _tally(facts)
    parts = [_part(chunk) for chunk in _split(facts, cuts)]
    left = LearnPart()
    for part in parts:
        left = left.merge(part)
    assert left.tally == whole
    assert left.read == len(facts) and left.repeats == len(facts) - whole.messages
    # Associative: merged right to left, or along another split, the same.
    right = LearnPart()
    for part in reversed(parts):
        right = part.merge(right)
    assert right.tally == whole
    again = LearnPart()
    for part in (_part(chunk) for chunk in _split(facts, other)):
        again = again.merge(part)
    assert again.tally == whole


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.sampled_from(["nir", "rib"]),
            st.integers(min_value=0, max_value=6),
            st.one_of(st.none(), st.integers(min_value=0, max_value=1000)),
        ),
        max_size=30,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=5),
)
def test_affected_parts_merge_the_same_however_split(
    values: list[tuple[str, int, int | None]], cuts: list[int]
) -> None:
    from datetime import UTC, datetime, timedelta

    def part(rows: list[tuple[str, int, int | None]]) -> AffectedPart:
        p = AffectedPart(read=len(rows), sent=len(rows))
        for kind, n, day in rows:
            when = None if day is None else datetime(2026, 1, 1, tzinfo=UTC) + timedelta(day)
            p.update(
                AffectedPart(values={(kind, str(n)): Value(kind, f"m{n}", str(n), 1, when, when)})
            )
        return p

    whole = part(values)
    chunks = [part(c) for c in _split(values, cuts)]
    left = AffectedPart()
    for c in chunks:
        left = left.merge(c)
    right = AffectedPart()
    for c in reversed(chunks):
        right = c.merge(right)
    assert left == whole == right
    assert list(left.values) == list(whole.values)  # the same order of first sight


def test_learn_gives_the_same_store_however_the_messages_are_split(tmp_path: Path) -> None:
    raws = [clinic_message(i % 45) for i in range(60)]  # 15 messages sent twice
    inputs = [
        write_mbox(tmp_path / "a.mbox", raws[:25]),
        write_emls(tmp_path / "eml", raws[25:]),
    ]
    learn(inputs, tmp_path / "one.db", jobs=1, shard_size=1000)
    one = Tally.load(tmp_path / "one.db")
    assert one.messages == 45
    for jobs, size in ((1, 1), (2, 4), (2, 7)):
        out = tmp_path / f"{jobs}-{size}.db"
        summary = learn(inputs, out, jobs=jobs, shard_size=size)
        assert (summary.read, summary.learned, summary.already_known) == (60, 45, 15)
        assert Tally.load(out) == one


def test_affected_counts_the_same_however_the_messages_are_split(tmp_path: Path) -> None:
    inputs = [str(p) for p in mixed_archive(tmp_path, 80)]
    fp = Fingerprinter()
    one = affected(inputs, recipient=DOCTOR, fingerprinter=fp, jobs=1, shard_size=1000)
    to_doctor = sum(1 for i in range(80) if i % 4 == 0 or (i % 7 == 0 and i % 4 == 3))
    assert one.read == 80 and one.sent == to_doctor and one.values and not one.errors
    for jobs, size in ((1, 1), (2, 5)):
        other = affected(inputs, recipient=DOCTOR, fingerprinter=fp, jobs=jobs, shard_size=size)
        assert other == one


def test_the_batch_module_exports_exactly_its_public_names() -> None:
    import leakguard.batch

    assert set(leakguard.batch.__all__) == {
        "CLUSTER_SHARD",
        "LOCAL_SHARD",
        "Affected",
        "ClusterError",
        "Interrupted",
        "Outcome",
        "Value",
        "affected",
        "check",
        "cores",
        "plan",
        "recipients_of",
        "scan",
    }
    assert all(hasattr(leakguard.batch, name) for name in leakguard.batch.__all__)


class _SwallowsCtrlC:
    """Ctrl-C while a finaliser runs: Python loses the ``KeyboardInterrupt`` it raised
    there and goes on, printing it as a traceback ("Exception ignored in"), as it did
    inside a cluster future's."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


# The lost interruption must not reach the hook that prints it (pytest's, here).
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_lost_in_a_finaliser_still_stops_the_run(tmp_path: Path) -> None:
    box = write_mbox(tmp_path / "Sent.mbox", [clinic_message(i) for i in range(60)])
    backend = Processes(2, new_token(), Context(Fingerprinter()))
    shards = plan([str(box)], reading="check", size=2)
    seen = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in stream(Echo(), shards, backend):  # type: ignore[arg-type]
            seen += 1
            if seen == 2:
                _SwallowsCtrlC()  # made and dropped: its finaliser runs here
    assert seen == 2, seen  # stopped at once, not at the end of the run
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_pool_stopped_at_once_leaves_the_exit_hook_nothing_to_fail_on() -> None:
    # On Ctrl-C the pool is stopped at once; at exit the standard library wakes its
    # manager thread through a pipe that thread may be closing at that moment (checked,
    # then written): an OSError traceback after the clean Ctrl-C line, once in 25 runs
    # of `affected --jobs 2` under load.
    from concurrent.futures import ProcessPoolExecutor, process

    from leakguard.batch._engine import Processes, _QuietWakeup

    pool = ProcessPoolExecutor(1)
    assert pool.submit(abs, -1).result() == 1
    manager = pool._executor_manager_thread  # type: ignore[attr-defined]
    assert manager is not None
    Processes._stop(pool)
    assert not manager.is_alive(), "the manager thread outlived the stop"
    hook = process._threads_wakeups.get(manager)  # type: ignore[attr-defined]
    assert hook is None or isinstance(hook, _QuietWakeup)
    # The race itself: a pipe closed under a wake-up that still thinks it open.
    inner = process._ThreadWakeup()  # type: ignore[attr-defined]
    inner._writer.close()
    with pytest.raises(OSError):
        inner.wakeup()
    _QuietWakeup(inner).wakeup()
    inner._reader.close()


def _may_fork_a_child() -> bool:
    from leakguard import _child

    return _child.allowed()


def test_a_batch_worker_forks_no_child_of_its_own() -> None:
    # Its siblings use the other cores: a long text is read in the worker alone.
    backend = Processes(2, new_token(), Context(Fingerprinter()))
    try:
        answers = [backend.submit(_may_fork_a_child).result(timeout=60) for _ in range(4)]
    finally:
        backend.close(cancel=False)
    assert answers == [False] * 4
