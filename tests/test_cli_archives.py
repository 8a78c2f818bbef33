"""Archives on the command line: check/scan of mbox and Maildir, --jobs, the progress
bar, the HTML report in a real Chromium, and ``leakguard affected`` on the seed."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import mailbox
import os
import pty
import struct
import subprocess
import sys
import termios
import tomllib
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest

from cli_helpers import run
from leakguard.cli import main
from leakguard.cli.affected import COLUMNS
from leakguard.detectors import find_identifiers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.eml"))
SEED = ROOT / "seeds" / "alliance-vision"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An mbox of the ten examples, three times over (30 messages)."""
    path = tmp_path_factory.mktemp("box") / "Sent.mbox"
    box = mailbox.mbox(str(path))
    for _ in range(3):
        for p in EXAMPLES:
            box.add(message_from_bytes(p.read_bytes(), policy=compat32))
    box.flush()
    box.close()
    return path


def _no_identifier(text: str) -> None:
    found = [m.kind for m in find_identifiers(text)]
    assert found == [], f"identifiers in clear: {found}"


def test_check_an_mbox_with_two_workers_gives_the_one_worker_answer_in_order(
    capsys: pytest.CaptureFixture[str], sent: Path
) -> None:
    directory = str(ROOT / "examples" / "colleagues.csv")
    args = ["check", "--format", "json", "--directory", directory]
    code1, out1, _ = run(capsys, *args, "--jobs", "1", str(sent))
    code2, out2, _ = run(capsys, *args, "--jobs", "2", str(sent))
    one, two = json.loads(out1)["messages"], json.loads(out2)["messages"]
    assert code1 == code2 == 1
    assert all(m["source"].startswith(f"{sent}#{k} <") for k, m in enumerate(one, start=1))
    assert len(one) == 30
    strip = [(m["source"], m["action"], [f["kind"] for f in m["findings"]]) for m in one]
    assert strip == [(m["source"], m["action"], [f["kind"] for f in m["findings"]]) for m in two]
    # Each example keeps the action it gets as a file.
    _, out, _ = run(capsys, *args, "--jobs", "1", *map(str, EXAMPLES))
    alone = [m["action"] for m in json.loads(out)["messages"]]
    assert [m["action"] for m in one] == alone * 3


def test_check_a_maildir_and_report_a_missing_archive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(EXAMPLES[0].read_bytes())
    code, out, _ = run(
        capsys, "check", "--format", "json", str(tmp_path / "Maildir"), str(tmp_path / "x.mbox")
    )
    doc = json.loads(out)["messages"]
    assert code == 2
    assert doc[0]["source"] == f"{tmp_path / 'Maildir'}#1 <example-1@clinique-exemple.fr>"
    assert doc[0]["action"] == "allow"
    assert doc[1] == {"source": str(tmp_path / "x.mbox"), "error": "no such file", "findings": []}


def test_scan_expands_an_mbox_inside_a_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sent: Path
) -> None:
    (tmp_path / "Sent.mbox").write_bytes(sent.read_bytes())
    (tmp_path / "0-note.txt").write_text("Rien à signaler.\n", encoding="utf-8")
    code, out, _ = run(capsys, "scan", "--format", "json", "--jobs", "2", str(tmp_path))
    doc = json.loads(out)["messages"]
    assert code == 0
    assert len(doc) == 31
    assert doc[0] == {"source": str(tmp_path / "0-note.txt"), "findings": []}
    assert doc[2]["source"] == f"{tmp_path / 'Sent.mbox'}#2 <example-2@clinique-exemple.fr>"
    assert "nir" in {f["kind"] for f in doc[2]["findings"]}


def test_scan_reads_a_maildir_in_a_folder_once_with_its_sub_folders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    box = mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    box.add(EXAMPLES[0].read_bytes())
    box.add_folder("Sent").add(EXAMPLES[1].read_bytes())
    code, out, _ = run(capsys, "scan", "--format", "json", str(tmp_path))
    sources = [m["source"] for m in json.loads(out)["messages"]]
    assert code == 0
    assert sources == [
        f"{tmp_path / 'Mail'}#1 <example-1@clinique-exemple.fr>",
        f"{tmp_path / 'Mail' / '.Sent'}#1 <example-2@clinique-exemple.fr>",
    ]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "leakguard.cli", *args]


def test_no_progress_bar_when_stderr_is_not_a_terminal(sent: Path) -> None:
    done = subprocess.run(
        _cli("check", "--jobs", "2", str(sent)), capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr == ""


def test_progress_bar_on_a_terminal_shows_count_and_rate(sent: Path) -> None:
    leader, follower = pty.openpty()
    # A terminal has a size (a fresh pseudo-terminal has none: 0 columns).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        done = subprocess.run(
            _cli("check", "--jobs", "2", str(sent)),
            stdout=subprocess.DEVNULL,
            stderr=follower,
            check=False,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    drawn = b"".join(chunks).decode("utf-8", "replace")
    assert done.returncode == 1
    # tqdm's bar: the count out of the total, the rate and the time left.
    assert "/30 [" in drawn and "msg/s]" in drawn and "<" in drawn


# --------------------------------------------------------------------------- report


def test_report_renders_in_chromium_without_console_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sent: Path
) -> None:
    from playwright.sync_api import sync_playwright

    report = tmp_path / "report.html"
    directory = str(ROOT / "examples" / "colleagues.csv")
    code, _, _ = run(capsys, "check", "--directory", directory, "--report", str(report), str(sent))
    assert code == 1
    page_html = report.read_text(encoding="utf-8")
    _no_identifier(page_html)
    assert "http://" not in page_html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page_html and "<script" not in page_html
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        headings = page.locator("h2").all_inner_texts()
        cards = page.locator(".card").all_inner_texts()
        review_rows = page.locator("table").last.locator("tbody tr").count()
        bars = page.locator("svg rect").count()
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert problems == []
    assert requests == [report.as_uri()]
    assert headings == [
        "Summary",
        "Messages per action",
        "Findings per kind",
        "Findings over time",
        "Findings per recipient domain",
        "Messages to review",
    ]
    actions = json.loads(
        subprocess.run(
            _cli("check", "--format", "json", "--directory", directory, str(sent)),
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )["messages"]
    not_allowed = sum(1 for m in actions if m["action"] != "allow")
    assert cards[0].split("\n") == ["30", "messages checked"]
    assert review_rows == not_allowed
    assert bars >= 4
    assert shot.stat().st_size > 20_000  # kept with the test's files as the artefact


def test_report_in_french(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "fr_FR.UTF-8")
    report = tmp_path / "rapport.html"
    run(capsys, "scan", "--report", str(report), str(sent))
    text = report.read_text(encoding="utf-8")
    assert '<html lang="fr">' in text and "Constats par type" in text
    _no_identifier(text)


# --------------------------------------------------------------------------- affected


def _affected(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[list[dict[str, str]], str]:
    code, out, err = run(capsys, "affected", str(SEED / "sent-2023-06.mbox"), *extra)
    assert code == (1 if out.count("\n") > 1 else 0), err  # 1: identifiers were sent there
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == ",".join(COLUMNS)
    _no_identifier(out + err)
    return rows, err


def test_affected_names_exactly_the_twenty_patients_sent_to_the_ex_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = tomllib.loads((SEED / "affected.toml").read_text(encoding="utf-8"))["affected"]
    rows, err = _affected(
        capsys, "--recipient", spec["recipient"], "--register", str(SEED / spec["register"])
    )
    assert sorted({r["patient_id"] for r in rows}) == spec["patients"]
    assert len(spec["patients"]) == 20
    assert sorted({r["kind"] for r in rows}) == ["nir", "rib"]
    assert len(rows) == 40  # one NIR and one RIB each
    twice = {r["patient_id"] for r in rows if r["messages"] == "2"}
    assert twice == {"AV-009", "AV-010", "AV-011", "AV-012"}  # in both batches
    assert all(r["first_date"] >= "2023-06-05" and r["last_date"] <= "2023-06-16" for r in rows)
    assert all(r["patient_name"] for r in rows)
    assert err == (
        "leakguard: 20 people from the register, in 2 message(s); 0 value(s) not in the register.\n"
    )


def test_affected_exits_0_when_nothing_went_to_that_recipient(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        "affected",
        str(SEED / "sent-2023-06.mbox"),
        "--recipient",
        "jean.durand@exemple.fr",
    )
    assert (code, out) == (0, ",".join(COLUMNS) + "\n")
    assert err == (
        "leakguard: 0 people (distinct personal numbers) in 0 message(s); "
        "0 identifier value(s) in all.\n"
    )


def test_affected_since_and_domain(capsys: pytest.CaptureFixture[str]) -> None:
    register = str(SEED / "patients.csv")
    rows, _ = _affected(
        capsys,
        "--recipient",
        "M.Lecompte@gmail.com",
        "--since",
        "2023-06-10",
        "--register",
        register,
    )
    assert sorted({r["patient_id"] for r in rows}) == [f"AV-{i:03d}" for i in range(9, 21)]
    # The whole gmail.com domain: the ex-client and the real colleague (patients 21 to 30).
    rows, err = _affected(capsys, "--domain", "gmail.com", "--register", register)
    assert len({r["patient_id"] for r in rows}) == 30
    # Without a register: people counted by their personal numbers.
    rows, err = _affected(capsys, "--recipient", "teletransmission@cpam-exemple.fr")
    assert {r["patient_id"] for r in rows} == {""}
    assert err == (
        "leakguard: 30 people (distinct personal numbers) in 1 message(s); "
        "60 identifier value(s) in all.\n"
    )


def test_affected_writes_the_csv_file_and_refuses_a_register_without_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "affected.csv"
    code, stdout, _ = run(
        capsys,
        "affected",
        str(SEED / "sent-2023-06.mbox"),
        "--recipient",
        "m.lecompte@gmail.com",
        "-o",
        str(out),
    )
    assert code == 1 and stdout == ""
    assert len(out.read_text(encoding="utf-8").splitlines()) == 41
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nA,a@b.fr\n", encoding="utf-8")
    code, _, err = run(capsys, "affected", str(SEED / "sent-2023-06.mbox"), "--register", str(bad))
    assert code == 2
    assert err == (
        f"leakguard: {bad}: the patient register needs an 'id' column and at least one of "
        "nir, rib, iban, be_niss, qc_nam, ca_sin (found: email, name).\n"
    )


def test_bad_jobs_and_unwritable_outputs_are_clear_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sent: Path
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check", "--jobs", "0", str(sent)])
    assert caught.value.code == 2
    assert capsys.readouterr().err.endswith(
        "leakguard check: error: argument --jobs/-j: expected a whole number ≥ 1, got '0'\n"
    )
    missing = tmp_path / "no-such-folder" / "report.html"
    code, _, err = run(capsys, "check", "--report", str(missing), str(EXAMPLES[0]))
    assert (code, err) == (
        2,
        f"leakguard: {missing}: cannot write the report (its folder does not exist).\n",
    )
    out = tmp_path / "no-such-folder" / "affected.csv"
    code, stdout, err = run(capsys, "affected", str(SEED / "sent-2023-06.mbox"), "-o", str(out))
    assert (code, stdout, err) == (
        2,
        "",
        f"leakguard: {out}: cannot write the list (its folder does not exist).\n",
    )


def test_the_seed_sent_folder_blocks_what_went_to_the_ex_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "--format",
        "json",
        "--policy",
        str(SEED / "policy.toml"),
        str(SEED / "sent-2023-06.mbox"),
    )
    actions = [m["action"] for m in json.loads(out)["messages"]]
    assert code == 1
    # CPAM batch, ex-client 1/2, internal, real colleague, ex-client 2/2, ex-client
    # reply without data, patient's appointment.
    assert actions == ["encrypt", "block", "allow", "encrypt", "block", "warn", "allow"]
