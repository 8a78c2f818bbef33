"""Archive readers: mbox, Maildir, directory trees and PST give back the stored messages."""

from __future__ import annotations

import mailbox
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakguard.archives import ArchiveError, archive_kind, iter_messages
from leakguard.archives import _read as archives_read
from leakguard.guard import Guard
from leakguard.policy import Policy
from leakguard.recipients import Directory

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.eml"))


def _mbox(path: Path, messages: list[bytes]) -> None:
    box = mailbox.mbox(str(path))
    for data in messages:
        box.add(message_from_bytes(data, policy=compat32))
    box.flush()
    box.close()


def _maildir(path: Path, messages: list[bytes]) -> mailbox.Maildir:
    box = mailbox.Maildir(str(path), create=True)
    for data in messages:
        box.add(data)
    return box


def _simple(n: int, *, date: str | None = "Tue, 03 Nov 2026 10:00:00 +0100") -> bytes:
    msg = EmailMessage()
    msg["From"] = "secretariat@clinique-exemple.fr"
    msg["To"] = "dr.martin@cabinet-exemple.fr"
    msg["Subject"] = f"Message {n}"
    msg["Message-ID"] = f"<m{n}@clinique-exemple.fr>"
    if date:
        msg["Date"] = date
    msg.set_content(f"Bonjour,\nmessage numéro {n}.\n")
    return bytes(msg)


def test_mbox_items_are_numbered_with_their_message_id(tmp_path: Path) -> None:
    box = tmp_path / "Sent.mbox"
    _mbox(box, [_simple(1), _simple(2), _simple(3, date=None)])
    items = list(iter_messages(box))
    assert archive_kind(box) == "mbox"
    assert [i.source for i in items] == [
        f"{box}#1 <m1@clinique-exemple.fr>",
        f"{box}#2 <m2@clinique-exemple.fr>",
        f"{box}#3 <m3@clinique-exemple.fr>",
    ]
    assert items[0].date == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    # No Date header: the date of the mbox separator line, which Python writes as now.
    assert items[2].date is not None and items[2].date.year >= 2026
    assert b"message num" in items[1].data and b"From " not in items[1].data[:5]


def test_a_message_without_message_id_is_named_by_its_number(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.write_bytes(b"From a@b Mon Nov 23 09:00:00 2026\nSubject: x\n\nbody\n")
    (item,) = iter_messages(box)
    assert item.source == f"{box}#1"
    assert item.data == b"Subject: x\n\nbody\n"
    assert item.date == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


_line = st.lists(
    st.sampled_from(["From ", ">From ", "a", "é", " ", "x", "\t", "1", "From", "\r"]),
    max_size=8,
).map("".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bodies=st.lists(st.lists(_line, max_size=6), min_size=1, max_size=5))
def test_mbox_split_agrees_with_python_mailbox(tmp_path: Path, bodies: list[list[str]]) -> None:
    """Whatever the bodies hold (lines starting with From included), each message comes
    back as the standard library's own mbox reader gives it."""
    path = tmp_path / "prop.mbox"
    path.unlink(missing_ok=True)
    raw = [
        f"Subject: p{i}\nMessage-ID: <p{i}@x>\n\n".encode() + "\n".join(lines).encode() + b"\n"
        for i, lines in enumerate(bodies)
    ]
    _mbox(path, raw)
    reference = mailbox.mbox(str(path))
    expected = [reference.get_bytes(key) for key in reference.iterkeys()]
    reference.close()
    got = list(iter_messages(path))
    assert [g.data for g in got] == expected
    # Lines read in pieces of a few bytes (as a line longer than a megabyte is): the
    # same messages ("From " begins a message only at the start of a line).
    saved = archives_read._LINE_PIECE
    archives_read._LINE_PIECE = 8
    try:
        assert [g.data for g in iter_messages(path)] == expected
    finally:
        archives_read._LINE_PIECE = saved
    # (A bare CR before "From" makes Python's writer start a message there: numbering
    # follows the file as written.)
    assert [g.source.split(" ")[0] for g in got] == [f"{path}#{k}" for k in range(1, len(got) + 1)]
    assert got[0].source == f"{path}#1 <p0@x>"


def test_a_message_too_large_in_an_mbox_is_said_unread_and_the_next_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its lines are let go past the limit (a 1 GB message had held 12 GB of memory).
    monkeypatch.setattr(archives_read, "MAX_MESSAGE_BYTES", 1000)
    path = tmp_path / "big.mbox"
    raw = [b"Subject: big\n\n" + b"x" * 5000 + b"\n", b"Subject: small\n\nbody\n"]
    _mbox(path, raw)
    big, small = iter_messages(path)
    assert big.data == b"" and big.error is not None
    assert "too large to read" in big.error.message("en")
    assert small.error is None and small.data == raw[1]


def test_maildir_reads_new_and_cur_then_sub_folders(tmp_path: Path) -> None:
    root = tmp_path / "Mail"
    box = _maildir(root, [_simple(1), _simple(2)])
    sent = box.add_folder("Sent")
    sent.add(_simple(3))
    # A message already read moves to cur/: still listed.
    key = next(iter(box.keys()))
    m = box.get_message(key)
    m.set_subdir("cur")
    box[key] = m
    assert archive_kind(root) == "maildir"
    items = list(iter_messages(root))
    assert sorted(i.source.split(" ", 1)[1] for i in items[:2]) == [
        "<m1@clinique-exemple.fr>",
        "<m2@clinique-exemple.fr>",
    ]
    assert items[2].source == f"{root / '.Sent'}#1 <m3@clinique-exemple.fr>"
    assert all(i.error is None for i in items)


def test_tree_reads_eml_files_mbox_files_and_maildirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.eml").write_bytes(_simple(1))
    (tmp_path / "a" / "notes.txt").write_text("not a message")
    _mbox(tmp_path / "b-Sent", [_simple(2), _simple(3)])
    _maildir(tmp_path / "c", [_simple(4)])
    items = list(iter_messages(tmp_path))
    assert archive_kind(tmp_path) == "tree"
    assert [i.source for i in items] == [
        str(tmp_path / "a" / "one.eml"),
        f"{tmp_path / 'b-Sent'}#1 <m2@clinique-exemple.fr>",
        f"{tmp_path / 'b-Sent'}#2 <m3@clinique-exemple.fr>",
        f"{tmp_path / 'c'}#1 <m4@clinique-exemple.fr>",
    ]


def test_an_unreadable_file_in_a_tree_is_reported_and_the_walk_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(_simple(1))
    (tmp_path / "b.eml").symlink_to(tmp_path / "gone.eml")
    (tmp_path / "c.eml").write_bytes(_simple(3))
    items = list(iter_messages(tmp_path))
    assert [i.source for i in items] == [str(tmp_path / n) for n in ("a.eml", "b.eml", "c.eml")]
    assert items[1].error is not None and items[1].data == b""
    assert str(items[1].error) == (
        f"{tmp_path / 'b.eml'}: cannot read this archive (No such file or directory)."
    )
    assert items[0].error is None and items[2].error is None


def test_a_missing_path_is_a_clear_error_in_both_languages(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as caught:
        list(iter_messages(tmp_path / "nope.mbox"))
    assert str(caught.value) == f"{tmp_path / 'nope.mbox'}: no such file or folder."
    assert caught.value.message("fr") == (
        f"{tmp_path / 'nope.mbox'} : fichier ou dossier introuvable."
    )


def test_pst_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    pst = tmp_path / "archive.pst"
    pst.write_bytes(b"!BDN" + bytes(600))
    code = (
        "import sys; sys.modules['pypff'] = None\n"
        "from leakguard.archives import iter_messages, ArchiveError\n"
        f"try:\n    list(iter_messages({str(pst)!r}))\n"
        "except ArchiveError as e:\n    print(e); print(e.message('fr'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "reading PST files needs the optional 'pst' extra: pip install 'leakguard[pst]' "
        "(it installs libpff-python).",
        "la lecture des fichiers PST demande l'extension facultative « pst » : "
        "pip install 'leakguard[pst]' (elle installe libpff-python).",
    ]


def test_a_damaged_pst_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pypff", reason="the 'pst' extra is part of the test extra")
    pst = tmp_path / "archive.pst"
    pst.write_bytes(b"!BDN" + bytes(600))
    assert archive_kind(pst) == "pst"
    with pytest.raises(ArchiveError) as caught:
        list(iter_messages(pst))
    assert str(caught.value).startswith(f"{pst}: cannot open this PST file (")


# --------------------------------------------------------------- same verdict everywhere


@pytest.fixture(scope="module")
def guard() -> Guard:
    policy = Policy.default().replace(internal_domains=("clinique-exemple.fr",))
    return Guard(policy, directory=Directory.load(ROOT / "examples" / "colleagues.csv"))


def test_every_example_gets_the_same_action_as_a_file_in_mbox_maildir_and_tree(
    tmp_path: Path, guard: Guard
) -> None:
    raw = [p.read_bytes() for p in EXAMPLES]
    expected = [guard.check(p) for p in EXAMPLES]
    assert len({v.action for v in expected}) >= 3  # the examples cover several actions
    _mbox(tmp_path / "Sent.mbox", raw)
    _maildir(tmp_path / "Maildir", raw)
    tree = tmp_path / "tree"
    tree.mkdir()
    for p in EXAMPLES:
        (tree / p.name).write_bytes(p.read_bytes())
    for where in ("Sent.mbox", "Maildir", "tree"):
        items = list(iter_messages(tmp_path / where))
        got = {message_from_bytes(i.data)["Message-ID"]: guard.check(i.data) for i in items}
        assert len(got) == len(expected), where
        for p, verdict in zip(EXAMPLES, expected, strict=True):
            mid = message_from_bytes(p.read_bytes())["Message-ID"]
            other = got[mid]
            assert (other.action, sorted(map(str, other.findings))) == (
                verdict.action,
                sorted(map(str, verdict.findings)),
            ), f"{where}: {p.name}"


@given(raw=st.text(max_size=300))
def test_a_message_id_in_a_source_is_one_printable_word(raw: str) -> None:
    from leakguard.archives._read import clean_message_id

    value = clean_message_id(raw)
    if value is not None:
        assert len(value) <= 200
        assert not any(c.isspace() or c in "<>" or ord(c) < 32 or ord(c) == 127 for c in value)
    else:
        assert all(c.isspace() or c in "<>" or ord(c) < 32 or ord(c) == 127 for c in raw)
