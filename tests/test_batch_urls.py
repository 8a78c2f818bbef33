"""Inputs named by URL and read through fsspec: ``file://`` URLs to a folder and fsspec's
``memory://`` file system (read in this process: one local job) give the answers of the
same archive given by path; an mbox is cut without being read whole; a URL that cannot
be read is one line naming it, exit status 2, in English and French."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_factory import DOCTOR, clinic_message, mixed_archive, plain_message, write_mbox
from cli_helpers import run
from leakguard import batch
from leakguard.archives import ArchiveError, iter_messages
from leakguard.archives._fs import FsPath
from leakguard.batch._shards import MboxRange, mbox_ranges
from leakguard.core import Fingerprinter
from leakguard.correspondents._store import Tally

fsspec = pytest.importorskip("fsspec")
from fsspec.implementations.memory import MemoryFileSystem  # noqa: E402


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """An mbox, a Maildir and a folder of .eml: 40 messages."""
    return mixed_archive(tmp_path_factory.mktemp("urls"), 40)


@pytest.fixture
def memory(archive: list[Path]) -> Iterator[list[str]]:
    """The archive copied to ``memory://`` file by file, as an object store keeps it:
    the Maildir's empty ``new`` and ``tmp`` folders are not there."""
    fs = MemoryFileSystem()
    base = archive[0].parent
    urls = []
    for p in archive:
        for f in [p] if p.is_file() else sorted(p.rglob("*")):
            if f.is_file():
                fs.pipe_file(f"/lg-test/{f.relative_to(base).as_posix()}", f.read_bytes())
        urls.append(f"memory://lg-test/{p.relative_to(base).as_posix()}")
    assert not fs.exists("/lg-test/Maildir/tmp")
    yield urls
    fs.rm("/lg-test", recursive=True)


def _answers(outcomes: Any, base: str) -> list[tuple[str, str | None]]:
    return [(o.source.replace(base, "BASE"), o.error or o.verdict.action.value) for o in outcomes]


def test_file_and_memory_urls_give_the_answers_of_paths(
    archive: list[Path], memory: list[str]
) -> None:
    base = str(archive[0].parent)
    paths = [str(p) for p in archive]
    by_path = _answers(batch.check(paths, jobs=1, shard_size=3), base)
    assert len(by_path) == 40 and all(a in ("allow", "encrypt") for _, a in by_path)
    files = [f"file://{p}" for p in paths]
    assert _answers(batch.check(files, jobs=1, shard_size=3), f"file://{base}") == by_path
    assert _answers(batch.check(memory, jobs=1, shard_size=3), "memory://lg-test") == by_path
    # The reader of the library takes them too.
    messages = [m.source.replace("memory://lg-test", "BASE") for m in iter_messages(memory[0])]
    assert messages == [s for s, _ in by_path[:20]]


def test_affected_and_learn_read_urls_as_paths(
    archive: list[Path], memory: list[str], tmp_path: Path
) -> None:
    paths = [str(p) for p in archive]
    keyed = Fingerprinter("url-test-key")
    one = batch.affected(paths, recipient=DOCTOR, jobs=1, fingerprinter=keyed)
    other = batch.affected(memory, recipient=DOCTOR, jobs=1, fingerprinter=keyed)
    assert one.values and one.values == other.values
    assert (one.read, one.sent, other.errors) == (other.read, other.sent, [])

    from leakguard import Guard
    from leakguard.learn import learn

    stores = tmp_path / "paths.db", tmp_path / "urls.db"
    for sent, store in zip((paths, memory), stores, strict=True):
        assert learn(sent, store, jobs=1, guard=Guard(fingerprinter=keyed)).read == 40
    assert Tally.load(stores[0]) == Tally.load(stores[1])


class CountingMemory(MemoryFileSystem):  # type: ignore[misc]
    """fsspec's memory file system, counting the bytes its files hand out."""

    read = 0

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        f = super()._open(path, mode, **kwargs)
        owner = self

        class Counted:
            def __getattr__(self, name: str) -> Any:
                return getattr(f, name)

            def read(self, n: int = -1) -> bytes:
                data: bytes = f.read(n)
                owner.read += len(data)
                return data

            def __iter__(self) -> Iterator[bytes]:
                for line in f:
                    owner.read += len(line)
                    yield line

            def __enter__(self) -> Counted:
                return self

            def __exit__(self, *exc: object) -> None:
                f.close()

        return Counted()


def test_an_mbox_url_is_cut_at_from_lines_reading_only_around_the_cuts() -> None:
    fs = CountingMemory()
    raws = [plain_message(i) for i in range(2000)]
    buf = io.BytesIO()
    for data in raws:
        buf.write(b"From secretariat@clinique-exemple.fr Mon Nov 23 09:00:00 2026\n")
        buf.write(data + b"\n")
    total = len(buf.getvalue())
    fs.pipe_file("/lg-cut/big.mbox", buf.getvalue())
    try:
        fs.read = 0
        where = FsPath(fs, "/lg-cut/big.mbox", "memory://lg-cut/big.mbox")
        ranges = list(mbox_ranges(where, 64 * 1024))
        assert len(ranges) > 10
        assert all(isinstance(r, MboxRange) for r in ranges)
        assert fs.read < total // 4, (fs.read, total)  # the planner did not read it whole
        counted = []
        for r in ranges:
            assert isinstance(r, MboxRange)
            counted += [i.source.split(" ")[0].rsplit("#", 1)[1] for i in r.items()]
        assert len(counted) == 2000
    finally:
        fs.rm("/lg-cut", recursive=True)


def test_a_pst_url_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, english: None
) -> None:
    pst = tmp_path / "Archive.pst"
    pst.write_bytes(b"!BDN" + bytes(600))
    url = f"file://{pst}"
    code, out, _ = run(capsys, "check", "-j", "1", url)
    assert code == 2
    assert out.splitlines()[0] == (
        f"{url}: error: a PST file is read from a local or shared path, not a URL: copy it first"
    ), out
    with pytest.raises(ArchiveError, match="not a URL"):
        list(iter_messages(url))


def _cli(
    *args: str, lang: str = "en_GB.UTF-8", block: str = ""
) -> subprocess.CompletedProcess[str]:
    """``leakguard ARGS`` as a program; ``block`` names a package made impossible to
    import, as on a machine without it."""
    code = (
        f"import sys; sys.modules[{block!r}] = None; " if block else "import sys; "
    ) + "from leakguard.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={"LANG": lang, "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "en", "fr"),
    [
        ("nosuch://box/Sent.mbox", "unknown protocol nosuch://", "protocole nosuch:// inconnu"),
        (
            "s3://lg-bucket/Sent.mbox",
            "s3:// is not installed here: install the Python package s3fs",
            "s3:// n'est pas installé ici : installez le paquet Python s3fs",
        ),
        ("file:///lg-nowhere/Sent.mbox", "no such file", "fichier introuvable"),
        ("memory://lg-nowhere/Sent.mbox", "no such file", "fichier introuvable"),
    ],
)
def test_a_url_that_cannot_be_read_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str, en: str, fr: str
) -> None:
    if url.startswith("s3:") and _importable("s3fs"):
        pytest.skip("s3fs is installed here")
    for lang, reason, why in (
        ("en", en, f"leakguard: {url}: error: {en}"),
        ("fr", fr, f"leakguard : {url} : erreur : {fr}"),
    ):
        code, out, err = run(capsys, "--lang", lang, "check", "--format", "json", "-j1", url)
        assert (code, err) == (2, ""), err
        assert json.loads(out)["messages"] == [{"source": url, "error": reason, "findings": []}]
        code, out, err = run(capsys, "--lang", lang, "affected", "--recipient", DOCTOR, url)
        assert code == 2 and list(csv.reader(io.StringIO(out)))[1:] == []
        assert err.splitlines() == [why], err
    store = tmp_path / "s.db"
    gone = "no such" in en  # learn says it of the input as a whole
    for lang, why in (
        ("en", f"leakguard: {url}: {'no such file or folder' if gone else en}."),
        ("fr", f"leakguard : {url} : {'fichier ou dossier introuvable' if gone else fr}."),
    ):
        code, _, err = run(capsys, "--lang", lang, "learn", url, "-o", str(store))
        assert code == 2 and err.splitlines() == [why], err
    assert not store.exists()


def test_without_fsspec_a_url_names_the_extra(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "Sent.mbox", [clinic_message(1)])
    for lang, why in (
        ("en_GB.UTF-8", "error: reading URLs needs fsspec: install the extra leakguard[cluster]"),
        (
            "fr_FR.UTF-8",
            "erreur : lire des URL demande fsspec : installez l'extension leakguard[cluster]",
        ),
    ):
        done = _cli("check", f"file://{mbox}", str(mbox), lang=lang, block="fsspec")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stdout.splitlines()[0].endswith(why), done.stdout
        # The path beside it is checked all the same.
        assert "Sent.mbox#1" in done.stdout


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_scan_and_the_progress_count_read_urls_as_paths(
    archive: list[Path], memory: list[str]
) -> None:
    from leakguard.cli._archives import count

    base = str(archive[0].parent)

    def found(outcomes: Any, base: str) -> list[tuple[str, Any]]:
        return [
            (o.source.replace(base, "BASE"), o.error or sorted(f.kind for f in o.findings))
            for o in outcomes
        ]

    by_path = found(batch.scan([base], jobs=1), base)
    assert len(by_path) == 40 and any(kinds for _, kinds in by_path)
    assert found(batch.scan(["memory://lg-test"], jobs=1), "memory://lg-test") == by_path
    # The mbox is small: counted from its head, exactly; the Maildir and folder by listing.
    assert count(memory) == count([str(p) for p in archive]) == 40


@settings(max_examples=15, deadline=None)
@given(step=st.integers(min_value=1, max_value=40_000))
def test_mbox_url_ranges_hold_the_messages_of_the_whole_file(step: int) -> None:
    fs = MemoryFileSystem()
    raws = [clinic_message(i) for i in range(12)]
    if not fs.exists("/lg-prop/Sent.mbox"):
        with tempfile.TemporaryDirectory() as folder:
            mbox = write_mbox(Path(folder) / "Sent.mbox", raws)
            fs.pipe_file("/lg-prop/Sent.mbox", mbox.read_bytes())
    url = "memory://lg-prop/Sent.mbox"
    whole = [(m.source, m.data) for m in iter_messages(url)]
    assert len(whole) == 12
    parts: list[tuple[str, bytes]] = []
    for r in mbox_ranges(url, step):
        assert isinstance(r, MboxRange)
        parts += [(i.source, i.data) for i in r.items()]
    # Ranges number from their own start: the bodies and Message-IDs match in order.
    assert [d for _, d in parts] == [d for _, d in whole]
    assert [s.split(" ")[-1] for s, _ in parts] == [s.split(" ")[-1] for s, _ in whole]
