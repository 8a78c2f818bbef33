"""A real Outlook PST file through the 'pst' extra (libpff-python): the Enron sample of
``tests/pst_sample.py``."""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from leakguard.archives import archive_kind, iter_messages
from leakguard.cli import main
from pst_sample import SampleUnavailable
from pst_sample import enron_pst as fetch_enron_pst


@pytest.fixture(scope="module")
def enron_pst() -> Path:
    try:
        return fetch_enron_pst()
    except SampleUnavailable as exc:
        pytest.fail(str(exc))


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
