"""Every command given a wrong input says so on one line naming it, with the documented
exit status and never a traceback: missing files and folders, a folder where a file is
expected, binary files, a device or a named pipe, a full disk (/dev/full), Ctrl-C, and the
pytest plugin's wrong policy file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ALLOWED = str(EXAMPLES / "01-rendez-vous.eml")  # may leave as it is
NEEDS_ZIP = str(EXAMPLES / "03-facture-docx.eml")  # leaves only with --password-file
TOKEN = "t" * 24
FULL = "/dev/full"

# English OS texts that must never show under French.
_ENGLISH_OS = ("No such file", "Is a directory", "No space left", "Not a directory")


@pytest.fixture(autouse=True)
def _setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEAKGUARD_TOKEN", TOKEN)


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """The wrong inputs: a missing path, a folder, a binary file, a bad policy…"""
    binary = tmp_path / "random.bin"
    binary.write_bytes(bytes(range(256)) * 20)
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[actions\nx = ", encoding="utf-8")
    certs = tmp_path / "certs"
    certs.mkdir()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # nobody writes to it: reading it would wait for ever
    return {
        "pipe": str(pipe),
        "missing": str(tmp_path / "missing"),
        "folder": str(tmp_path),
        "binary": str(binary),
        "bad_toml": str(bad_toml),
        "certs": str(certs),
        "out": str(tmp_path / "out.eml"),
    }


# (command line with {placeholders}, the input the error line must name, exit status,
# where the line is: "err" alone on standard error, "out" as the input's result line)
CASES: dict[str, tuple[str, str, int, str]] = {
    "manifest-output-folder-missing": (
        "addin-manifest --url https://lg.example -o {missing}/m.xml",
        "{missing}/m.xml",
        2,
        "err",
    ),
    "manifest-output-is-a-folder": (
        "addin-manifest --url https://lg.example -o {folder}",
        "{folder}",
        2,
        "err",
    ),
    "manifest-disk-full": ("addin-manifest --url https://lg.example -o {full}", "{full}", 2, "err"),
    "manifest-token-file-missing": (
        "addin-manifest --url https://lg.example --token-file {missing}/token",
        "{missing}/token",
        2,
        "err",
    ),
    "protect-output-folder-missing": (
        "protect --certificates {certs} {allowed} -o {missing}/o.eml",
        "{missing}/o.eml",
        2,
        "err",
    ),
    "protect-output-is-a-folder": (
        "protect --certificates {certs} {allowed} -o {folder}",
        "{folder}",
        2,
        "err",
    ),
    "protect-disk-full": ("protect --certificates {certs} {allowed} -o {full}", "{full}", 2, "err"),
    "protect-input-missing": (
        "protect --certificates {certs} {missing}/in.eml -o {out}",
        "{missing}/in.eml",
        2,
        "err",
    ),
    "protect-input-is-a-folder": (
        "protect --certificates {certs} {folder} -o {out}",
        "{folder}",
        2,
        "err",
    ),
    "protect-input-binary": (
        "protect --certificates {certs} {binary} -o {out}",
        "{binary}",
        2,
        "err",
    ),
    "protect-certificates-missing": (
        "protect --certificates {missing} {allowed} -o {out}",
        "{missing}",
        2,
        "err",
    ),
    "protect-password-folder-missing": (
        "protect --certificates {certs} --password-file {missing}/pw {needs_zip} -o {out}",
        "{missing}/pw",
        2,
        "err",
    ),
    "protect-password-disk-full": (
        "protect --certificates {certs} --password-file {full} {needs_zip} -o {out}",
        "{full}",
        2,
        "err",
    ),
    "protect-policy-missing": (
        "protect --certificates {certs} --policy {missing}/p.toml {allowed} -o {out}",
        "{missing}/p.toml",
        2,
        "err",
    ),
    "check-input-missing": ("check -j1 {missing}/m.eml", "{missing}/m.eml", 2, "out"),
    "check-input-under-a-file": ("check -j1 {binary}/m.eml", "{binary}/m.eml", 2, "out"),
    "check-input-binary": ("check -j1 {binary}", "{binary}", 2, "out"),
    "check-empty-folder": ("check -j1 {certs}", "{certs}", 2, "out"),
    "check-policy-missing": (
        "check --policy {missing}/p.toml {allowed}",
        "{missing}/p.toml",
        2,
        "err",
    ),
    "check-policy-not-toml": ("check --policy {bad_toml} {allowed}", "{bad_toml}", 2, "err"),
    "check-policy-device": ("check --policy /dev/zero {allowed}", "/dev/zero", 2, "err"),
    "check-directory-device": ("check --directory /dev/zero {allowed}", "/dev/zero", 2, "err"),
    "check-policy-binary": ("check --policy {binary} {allowed}", "{binary}", 2, "err"),
    "check-policy-is-a-folder": ("check --policy {folder} {allowed}", "{folder}", 2, "err"),
    "check-directory-missing": (
        "check --directory {missing}/c.csv {allowed}",
        "{missing}/c.csv",
        2,
        "err",
    ),
    "check-directory-is-a-folder": ("check --directory {folder} {allowed}", "{folder}", 2, "err"),
    "check-directory-binary": ("check --directory {binary} {allowed}", "{binary}", 2, "err"),
    "check-correspondents-missing": (
        "check --correspondents {missing}/c.db {allowed}",
        "{missing}/c.db",
        2,
        "err",
    ),
    "check-correspondents-binary": (
        "check --correspondents {binary} {allowed}",
        "{binary}",
        2,
        "err",
    ),
    "check-report-folder-missing": (
        "check -j1 --report {missing}/r.html {allowed}",
        "{missing}/r.html",
        2,
        "err",
    ),
    "check-report-is-a-folder": ("check -j1 --report {folder} {allowed}", "{folder}", 2, "err"),
    "check-report-disk-full": ("check -j1 --report {full} {allowed}", "{full}", 2, "err"),
    "scan-input-missing": ("scan -j1 {missing}/m.eml", "{missing}/m.eml", 2, "out"),
    # A device or a pipe: reading it may never end.
    "check-input-named-pipe": ("check -j1 {pipe}", "{pipe}", 2, "out"),
    "scan-input-named-pipe": ("scan -j1 {pipe}", "{pipe}", 2, "out"),
    "scan-input-device": ("scan -j1 /dev/zero", "/dev/zero", 2, "out"),
    "scan-report-folder-missing": (
        "scan -j1 --report {missing}/r.html {allowed}",
        "{missing}/r.html",
        2,
        "err",
    ),
    "scan-report-disk-full": ("scan -j1 --report {full} {allowed}", "{full}", 2, "err"),
}


def _fill(text: str, places: dict[str, str]) -> str:
    return text.format(**places, allowed=ALLOWED, needs_zip=NEEDS_ZIP, full=FULL)


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_input_is_one_line_naming_it(
    case: str, lang: str, places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    template, named, status, stream = CASES[case]
    argv = ["--lang", lang, *_fill(template, places).split()]
    code, out, err = run(capsys, *argv)
    name = _fill(named, places)
    assert "Traceback" not in out + err
    assert code == status, (out, err)
    if stream == "err":
        assert out == ""
        assert err.count("\n") == 1 and name in err, err
        assert err.startswith("leakguard : " if lang == "fr" else "leakguard: "), err
    else:
        error = " : erreur : " if lang == "fr" else ": error: "
        lines = [line for line in out.splitlines() if line.startswith(name + error)]
        assert len(lines) == 1, out
        assert err == ""
    if lang == "fr":
        assert not any(text in out + err for text in _ENGLISH_OS), out + err


def test_protect_leaves_no_password_without_its_message(places: dict[str, str]) -> None:
    password = Path(places["folder"]) / "pw.txt"
    argv = [
        "protect",
        "--certificates",
        places["certs"],
        "--password-file",
        str(password),
        NEEDS_ZIP,
        "-o",
        places["missing"] + "/o.eml",
    ]
    from leakguard.cli import main

    assert main(argv) == 2
    assert not password.exists()
    argv[-1] = places["out"]
    assert main(argv) == 0
    assert password.stat().st_mode & 0o777 == 0o600
    assert b"documents-chiffres.zip" in Path(places["out"]).read_bytes()


# --------------------------------------------------------------------------- real processes


def _leakguard(
    *args: str, stdin: int | None = None, stdout: int | None = subprocess.PIPE
) -> subprocess.Popen[str]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LEAKGUARD_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "leakguard.cli", *args],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["check", "-j1", "--format", "json", ALLOWED],
        ["scan", "-j1", ALLOWED],
        ["addin-manifest", "--url", "https://lg.example"],
    ],
    ids=["check", "scan", "addin-manifest"],
)
def test_results_to_a_full_disk_are_one_line(args: list[str]) -> None:
    with Path(FULL).open("w") as full:
        proc = _leakguard(*args, stdout=full.fileno())
        _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err == "leakguard: standard output: the disk is full\n"
    assert proc.returncode == 2


def _wait_until_reading_a_pipe(pid: int, timeout: float = 60.0) -> None:
    """Until the process waits on a pipe (Linux says so in /proc); a fixed pause where
    /proc does not say, or a loaded machine still loading the program's modules."""
    wchan = Path(f"/proc/{pid}/wchan")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if "pipe" in wchan.read_text():
                time.sleep(0.2)
                return
        except OSError:
            break
        time.sleep(0.05)
    time.sleep(2.0)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "-j1", "-"],
        ["scan", "-j1", "-"],
        ["protect", "--certificates", "{certs}", "/dev/stdin", "-o", "{out}"],
    ],
    ids=["check", "scan", "protect"],
)
def test_ctrl_c_stops_with_130_and_one_line(args: list[str], places: dict[str, str]) -> None:
    # Standard input stays open and empty: the command waits on it until interrupted.
    reader, writer = os.pipe()
    try:
        proc = _leakguard(*(a.format(**places) for a in args), stdin=reader)
        # Interrupt once the program is running (waiting on its input), as a person would.
        _wait_until_reading_a_pipe(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(reader)
        os.close(writer)
    assert "Traceback" not in err, err
    lines = {"leakguard: interrupted (Ctrl-C).\n"}
    if args[0] != "protect":
        # Once under way, a batch command says what it wrote out before stopping (a busy
        # machine may still be starting it when the signal comes).
        done = "message(s) checked" if args[0] == "check" else "file(s) scanned"
        lines.add(
            f"leakguard: interrupted (Ctrl-C): the 0 {done} until then are written; "
            "the output is partial.\n"
        )
    assert err in lines
    assert proc.returncode == 130


def test_the_pytest_plugin_stops_at_once_on_a_missing_policy(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nleakguard_policy = missing.toml\nleakguard_messages = *.eml\n"
    )
    for i in range(30):
        (tmp_path / f"test_{i}.py").write_text("def test_x():\n    pass\n")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == [
        f"ERROR: leakguard: {tmp_path / 'missing.toml'}: cannot read the policy file "
        "(No such file or directory)."
    ]
    assert done.returncode == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize("value", ["0", "-3", "deux"])
def test_the_relay_refuses_a_recipient_cap_below_one(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max-recipients 0`` was taken as one recipient per message: a cap the user
    did not ask for. Refused, naming the option and the value."""
    from leakguard.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["relay", "--next-hop", "127.0.0.1:25", "--max-recipients", value])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    assert f"--max-recipients: a whole number of at least 1, not '{value}'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("command", ["check", "scan"])
def test_a_device_or_a_named_pipe_is_said_to_be_one(
    command: str, lang: str, places: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Not "no such file": it is there, and it is not read (it may never end).
    reason = "pas un fichier ordinaire" if lang == "fr" else "not a regular file"
    for target in (places["pipe"], "/dev/zero"):
        code, out, _ = run(capsys, "--lang", lang, command, "-j1", target)
        assert code == 2 and f"{target}" in out and reason in out, out


def test_a_message_file_too_large_to_read_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leakguard.archives._read import MAX_MESSAGE_BYTES

    big = tmp_path / "big.eml"
    with big.open("wb") as fh:  # sparse: no disk taken
        fh.truncate(MAX_MESSAGE_BYTES + 1)
    folder = tmp_path / "sent"
    folder.mkdir()
    (folder / "big.eml").symlink_to(big)
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1700000000.1.host:2,S").symlink_to(big)
    for target in (big, folder, maildir):
        code, out, _ = run(capsys, "--lang", "fr", "check", "-j1", str(target))
        assert code == 2 and "trop gros pour être lu : 300 Mo" in out, out
    # On standard input: no more than the limit and a byte is read.
    with big.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "leakguard.cli", "--lang", "en", "check", "-"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert "-: error: too large to read: more than 300 MB" in done.stdout, done.stdout


def test_a_document_too_large_to_read_is_refused_unread(tmp_path: Path) -> None:
    # A 3 GB file given to scan is not read (0.4 s, the memory of the start); one of
    # 100 MB is read, and its reader reports it too large for its part limit.
    import json

    big = tmp_path / "scan.pdf"
    with big.open("wb") as fh:
        fh.truncate(3 << 30)
    middle = tmp_path / "middle.pdf"
    with middle.open("wb") as fh:
        fh.truncate(100 << 20)
    # The scan in a child that says, after it, the most memory it held (kB).
    child = (
        "import resource, sys\n"
        "from leakguard.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    args = ["--lang", "en", "scan", "-j1", "--format", "json", str(big), str(middle)]
    done = subprocess.run(
        [sys.executable, "-c", child, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    first, second = json.loads(done.stdout)["messages"]
    assert "too large to read: 3072 MB (a file is read up to 300 MB)" in first["error"]
    (found,) = second["findings"]
    assert (found["kind"], found["detail"]) == ("unscannable_attachment", "too_large")
    peak = int(done.stderr.split()[-1])
    assert peak < 600 * 1024, f"the scan held {peak // 1024} MB"
