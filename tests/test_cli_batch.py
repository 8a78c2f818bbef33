"""The batch commands on wrong inputs and on Ctrl-C: ``affected`` never answers "nobody"
for an export it could not read, ``learn`` never replaces a store with a worse one, and
an interrupted run stops at once, writes what was finished and says it is partial."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_factory import DOCTOR, clinic_message, plain_message, write_emls, write_mbox
from cli_helpers import run
from docs_factory import make_pdf
from helpers import NIR_SPACED
from leakguard.cli.affected import COLUMNS
from leakguard.correspondents._store import Tally

HEADER = ",".join(COLUMNS) + "\n"


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")


@pytest.fixture
def sent(tmp_path: Path) -> Path:
    return write_mbox(tmp_path / "Sent.mbox", [clinic_message(i) for i in range(12)])


# --------------------------------------------------------------------------- affected


def test_affected_refuses_inputs_that_are_not_mail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, english: None
) -> None:
    pdf = tmp_path / "export.pdf"
    pdf.write_bytes(make_pdf([f"NIR {NIR_SPACED}"]))
    noise = tmp_path / "export.bin"
    noise.write_bytes(bytes(range(256)) * 40)
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    folder = tmp_path / "emptydir"
    folder.mkdir()
    cases = {
        pdf: "not an e-mail message: ",
        noise: "not an e-mail message: ",
        empty: "not an e-mail message: ",
        folder: "no file to check in this folder",
    }
    for path, why in cases.items():
        code, out, err = run(capsys, "affected", str(path), "--recipient", DOCTOR)
        assert (code, out) == (2, HEADER), path
        assert err.startswith(f"leakguard: {path}: error: {why}"), err
        assert err.count("\n") == 1 and "0 people" not in err


def test_affected_says_when_no_message_went_to_the_recipient(
    capsys: pytest.CaptureFixture[str], sent: Path, english: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(
        capsys, "affected", str(sent), "--recipient", "dr.martn@cabinet-exemple.fr"
    )
    assert (code, out) == (2, HEADER)
    assert err == (
        "leakguard: no message to dr.martn@cabinet-exemple.fr in the 12 message(s) read: "
        "check the address; no list of people can be drawn.\n"
    )
    code, _, err = run(capsys, "affected", str(sent), "--domain", "cabinet-exemple.com")
    assert code == 2 and "anyone at cabinet-exemple.com (or its sub-domains)" in err
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    code, _, err = run(
        capsys, "affected", str(sent), "--recipient", DOCTOR, "--since", "2027-01-01"
    )
    assert code == 2
    assert err.startswith(
        f"leakguard : aucun message à {DOCTOR} depuis le 2027-01-01 parmi les 12 message(s) lu(s)"
    )
    # Messages did go there: the count of people is the answer, even when it is 0.
    code, out, err = run(
        capsys, "affected", str(sent), "--recipient", "accueil@clinique-exemple.fr"
    )
    assert code in (0, 1) and out.startswith(HEADER)


# --------------------------------------------------------------------------- learn


def test_learn_never_replaces_a_store_with_a_worse_one(
    capsys: pytest.CaptureFixture[str], sent: Path, tmp_path: Path, english: None
) -> None:
    store = tmp_path / "good.db"
    assert run(capsys, "learn", str(sent), "-o", str(store), "-j", "1")[0] == 0
    good = store.read_bytes()
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    folder = tmp_path / "emptydir"
    folder.mkdir()
    code, out, err = run(capsys, "learn", str(empty), "-o", str(store))
    assert (code, out) == (2, f"{empty}: unreadable, not learned\n")
    assert err == (
        f"leakguard: {empty}: none of the 1 message(s) could be read; {store} was left as it was.\n"
    )
    code, out, err = run(capsys, "learn", str(folder), "-o", str(store), "--format", "json")
    assert (code, out) == (2, "")
    assert err == f"leakguard: {folder}: no message found; {store} was left as it was.\n"
    code, _, _ = run(capsys, "learn", str(folder), "-o", str(store), "--update")
    assert code == 2
    assert store.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    fresh = tmp_path / "new.db"
    code, _, err = run(capsys, "learn", str(folder), "-o", str(fresh))
    assert code == 2 and err.endswith(f"{fresh} was not written.\n") and not fresh.exists()


# --------------------------------------------------------------------------- Ctrl-C


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "leakguard.cli", *args]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _cpu(pid: int) -> float:
    """Seconds of CPU a process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _interrupt(args: list[str], *, group: bool, workers: int = 2) -> tuple[int, str, str, float]:
    """Start a command, wait until its workers run and it is under way, send SIGINT (to
    its process group, as a terminal's Ctrl-C does, or to the parent alone); its exit
    status, output and how long it took to stop."""
    env = {**os.environ, "LANG": "en_GB.UTF-8"}
    env.pop("LC_ALL", None)
    proc = subprocess.Popen(
        _cli(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.05)
    children = _children(proc.pid)
    assert len(children) >= workers, "the workers never started"
    # Under way: the workers have done some work (a busy machine makes it slower).
    while sum(map(_cpu, children)) < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    sent_at = time.monotonic()
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent_at
    time.sleep(0.2)
    assert all(_gone(c) for c in children), "a worker process was left running"
    return proc.returncode, out, err, took


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough to be under way when interrupted on a fast machine: `affected` reads
    # the 4,000 first messages in under a second.
    folder = tmp_path_factory.mktemp("big")
    return write_mbox(folder / "Sent.mbox", [plain_message(i) for i in range(16000)])


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("medium")
    return write_mbox(folder / "Sent.mbox", [plain_message(i) for i in range(2500)])


@pytest.mark.parametrize("group", [True, False], ids=["ctrl-c", "parent-alone"])
def test_ctrl_c_stops_check_at_once_and_writes_what_was_finished(
    big: Path, tmp_path: Path, group: bool
) -> None:
    report = tmp_path / "report.html"
    code, out, err, took = _interrupt(
        ["check", "--format", "json", "--jobs", "2", "--report", str(report), str(big)],
        group=group,
    )
    assert code == 130, err
    assert took < 2.5, took
    doc = json.loads(out)
    checked = doc["messages"]
    assert doc["partial"] is True and 0 < len(checked) < 4000
    # What was finished, in order: messages 1 to N, each once.
    assert [m["source"].split(" ")[0] for m in checked] == [
        f"{big}#{n}" for n in range(1, len(checked) + 1)
    ]
    assert err == (
        f"leakguard: interrupted (Ctrl-C): the {len(checked)} message(s) checked until then are "
        "written; the output is partial.\n"
    )
    page = report.read_text(encoding="utf-8")
    assert "Partial report: the run was interrupted" in page
    assert f"<b>{len(checked)}</b>" in page


def test_ctrl_c_on_scan_marks_the_text_output_partial(big: Path) -> None:
    code, out, err, took = _interrupt(["scan", "--jobs", "2", str(big)], group=True)
    assert code == 130 and took < 2.5 and "Traceback" not in err
    assert out.splitlines()[-1].endswith(
        "Exit status 130: interrupted (Ctrl-C) before the end: the results above are partial."
    )


def test_ctrl_c_on_affected_writes_the_rows_found_so_far(big: Path, tmp_path: Path) -> None:
    target = tmp_path / "affected.csv"
    code, out, err, took = _interrupt(
        ["affected", "--jobs", "2", "--recipient", DOCTOR, "-o", str(target), str(big)],
        group=True,
    )
    assert code == 130 and took < 2.5 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("leakguard: ") and " people " in lines[0]
    assert lines[-1].startswith("leakguard: interrupted (Ctrl-C): the list holds what the ")
    assert lines[-1].endswith("message(s) read until then carried; it is partial.")
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows and {r["kind"] for r in rows} == {"nir"}, err


def test_ctrl_c_on_learn_keeps_what_was_learned_and_update_finishes(
    medium: Path, tmp_path: Path
) -> None:
    store = tmp_path / "c.db"
    code, _, err, took = _interrupt(
        ["learn", "--jobs", "2", "-o", str(store), str(medium)], group=True
    )
    assert code == 130 and took < 2.5, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"leakguard: interrupted (Ctrl-C): {store} holds the ")
    assert 0 < Tally.load(store).messages < 2500
    env = {**os.environ, "LANG": "en_GB.UTF-8"}
    done = subprocess.run(
        _cli("learn", "--update", "-o", str(store), str(medium)),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    whole = tmp_path / "whole.db"
    subprocess.run(_cli("learn", "-o", str(whole), str(medium)), env=env, check=True, timeout=300)
    finished, expected = Tally.load(store), Tally.load(whole)
    assert finished.messages == expected.messages == 2500
    assert finished == expected


def test_ctrl_c_on_a_rebuild_leaves_the_old_store(medium: Path, tmp_path: Path, sent: Path) -> None:
    store = tmp_path / "c.db"
    subprocess.run(_cli("learn", "-o", str(store), str(sent)), check=True, timeout=120)
    before = store.read_bytes()
    code, _, err, _ = _interrupt(
        ["learn", "--jobs", "2", "-o", str(store), str(medium)], group=True
    )
    assert code == 130
    assert err.endswith(f"nothing was written; {store} was left as it was.\n")
    assert store.read_bytes() == before


def test_emls_in_a_folder_give_each_item_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = write_emls(tmp_path / "eml", [clinic_message(i) for i in range(40)])
    code, out, _ = run(capsys, "check", "--format", "json", "--jobs", "2", str(folder))
    sources = [m["source"] for m in json.loads(out)["messages"]]
    assert code == 1 and sources == sorted(str(p) for p in folder.iterdir())


# --------------------------------------------------------------------------- --cluster


def _leakguard(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LANG": "en_GB.UTF-8"}
    env.pop("LC_ALL", None)
    return subprocess.run(
        _cli(*args), capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_a_scheduler_out_of_reach_is_one_line(tmp_path: Path) -> None:
    import socket
    import threading

    pytest.importorskip("distributed")
    box = write_mbox(tmp_path / "Sent.mbox", [clinic_message(1)])
    # Something that is not a Dask scheduler: it answers with junk.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            with conn:
                conn.sendall(b"\xff" * 64)

    threading.Thread(target=answer, daemon=True).start()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = free.getsockname()[1]
    cases = {
        f"tcp://127.0.0.1:{port}": "what answers is not a Dask scheduler",
        f"tcp://127.0.0.1:{closed}": "Connection refused",
    }
    try:
        for address, why in cases.items():
            done = _leakguard("check", "--cluster", address, str(box))
            assert (done.returncode, done.stdout) == (2, "")
            assert done.stderr == (
                f"leakguard: {address}: cannot reach the Dask scheduler ({why}); start it "
                "with: dask scheduler\n"
            )
    finally:
        server.close()
    done = _leakguard("check", "--cluster", "nonsense://", str(box))
    assert done.returncode == 2 and done.stderr.endswith(
        "argument --cluster: 'nonsense://' is not the address of a Dask scheduler; expected "
        "tcp://HOST:PORT (tls://, ws:// and wss:// too).\n"
    )


def test_without_the_extra_cluster_names_it(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['distributed'] = None\n"
        "from leakguard.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    box = write_mbox(tmp_path / "Sent.mbox", [clinic_message(1)])
    lines = {
        "en_GB.UTF-8": "leakguard: --cluster needs the optional 'cluster' extra: "
        "pip install 'leakguard[cluster]' (it installs dask[distributed]).\n",
        "fr_FR.UTF-8": "leakguard : --cluster demande l'extension facultative « cluster » : "
        "pip install 'leakguard[cluster]' (elle installe dask[distributed]).\n",
    }
    for command, lang in zip(("check", "scan", "affected", "learn"), [*lines] * 2, strict=True):
        extra = ["-o", str(tmp_path / "c.db")] if command == "learn" else []
        env = {**os.environ, "LANG": lang}
        env.pop("LC_ALL", None)
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                command,
                *extra,
                "--cluster",
                "tcp://127.0.0.1:9",
                str(box),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (2, "", lines[lang]), command
    assert not (tmp_path / "c.db").exists()


def test_the_progress_total_counts_messages_as_the_readers_cut_them(tmp_path: Path) -> None:
    from leakguard.cli._archives import count

    bom = tmp_path / "a.mbox"
    bom.write_bytes(b"\xef\xbb\xbfFrom a\nSubject: 1\n\nx\n\nFrom b\nSubject: 2\n\ny\n")
    saved = tmp_path / "b.eml"  # a message saved with its envelope line: one message
    saved.write_bytes(b"From a Mon\nSubject: x\n\nFrom here on\n")
    (tmp_path / "c").write_bytes(b"Subject: y\n\nz\n")
    assert (count([str(bom)]), count([str(saved)]), count([str(tmp_path)])) == (2, 1, 4)
