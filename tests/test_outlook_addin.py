"""The Outlook add-in: its manifest command, and its Node and browser tests run from here."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest

from leakguard import cli
from serve_helpers import TOKEN

ROOT = Path(__file__).resolve().parent.parent
ADDIN = ROOT / "outlook-addin"
NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "v11": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1",
}


def _manifest(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setenv("LEAKGUARD_TOKEN", TOKEN)
    monkeypatch.setenv("LANG", "C")
    capsys.readouterr()
    status = cli.main(["addin-manifest", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_manifest_gets_the_address_id_send_mode_and_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://leakguard.clinique-exemple.fr:8443"
    status, out, _ = _manifest(["--url", url + "/", "--send-mode", "Block"], capsys, monkeypatch)
    assert status == 0
    root = ET.fromstring(out.encode())
    assert root.find("o:Id", NS).text == str(uuid.uuid5(uuid.NAMESPACE_URL, url + "/"))
    addresses = re.findall(r'(?:DefaultValue="|<AppDomain>)(https?://[^"<]+)', out)
    assert len(addresses) >= 8
    assert all(a.startswith(url + "/") or a == url for a in addresses)
    assert "localhost" not in out
    event = root.find(".//v11:LaunchEvent", NS)
    assert event.attrib == {
        "Type": "OnMessageSend",
        "FunctionName": "onMessageSendHandler",
        "SendMode": "Block",
    }
    urls = {u.get("id"): u.get("DefaultValue") for u in root.iterfind(".//bt:Url", NS)}
    assert urls == {
        "WebViewRuntime.Url": f"{url}/addin/commands.html?token={TOKEN}",
        "JSRuntime.Url": f"{url}/addin/launchevent.js?token={TOKEN}",
    }
    sets = root.find(".//v11:Requirements/bt:Sets", NS)
    assert sets.get("DefaultMinVersion") == "1.12"


def test_manifest_default_send_mode_and_given_id(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    given = "0b7e4a3c-1d2e-4f50-8a6b-7c8d9e0f1a2b"
    target = tmp_path / "manifest.xml"
    status, out, _ = _manifest(
        ["--url", "https://lg.example:9443", "--id", given, "-o", str(target)], capsys, monkeypatch
    )
    assert (status, out) == (0, "")
    text = target.read_text(encoding="utf-8")
    assert f"<Id>{given}</Id>" in text
    assert 'SendMode="SoftBlock"' in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--url", "http://lg.example:8443"],
            "--url must be an https:// address (Outlook loads add-ins over HTTPS only)",
        ),
        (["--url", "https://lg.example", "--id", "not-a-uuid"], "--id must be a UUID"),
    ],
)
def test_manifest_refuses_bad_options(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, out, err = _manifest(args, capsys, monkeypatch)
    assert (status, out) == (2, "")
    assert err == f"leakguard: {message}\n"


# Written in node_modules once `npm ci` finished: the lock file it was installed from.
_STAMP = "node_modules/.leakguard-installed"


def _npm_packages() -> None:
    """The add-in's npm packages, installed with ``npm ci`` from its lock file when they
    are missing or were installed from another lock file: from npm's cache first, then
    from the registry. A file lock keeps two test runs from installing at the same time.
    """
    lock_file = ADDIN / "package-lock.json"
    wanted = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    stamp = ADDIN / _STAMP

    def installed() -> bool:
        return stamp.is_file() and stamp.read_text(encoding="ascii").strip() == wanted

    if installed():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed for the add-in's tests (Debian: apt-get install npm)"
    tag = hashlib.sha256(str(ADDIN).encode()).hexdigest()[:16]
    guard = Path(tempfile.gettempdir()) / f"leakguard-npm-ci-{tag}.lock"
    with guard.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes
        if installed():
            return  # another run installed them while this one waited
        report = ""
        for where in (["--offline"], []):
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", *where],
                cwd=ADDIN,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode == 0:
                stamp.write_text(wanted + "\n", encoding="ascii")
                return
            report = done.stdout + done.stderr
        pytest.fail(f"`npm ci` in outlook-addin/ failed:\n{report[-3000:]}")


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run installs the npm packages
def test_node_and_browser_tests_pass() -> None:
    """``node --test`` over outlook-addin/test: office-addin-mock and Chromium tests."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the add-in's tests"
    _npm_packages()
    # The leakguard program of the Python running the tests, as the add-in's own test
    # command finds it on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {k: v for k, v in os.environ.items() if k != "LEAKGUARD_BIN"} | {"PATH": path}
    done = subprocess.run(
        [node, "--test", "--test-reporter=spec", "test/"],
        cwd=ADDIN,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    passed = re.search(r"^ℹ pass (\d+)$", report, re.M)
    assert passed is not None and int(passed.group(1)) >= 25, (
        report
    )  # 19 with the mock, 6 in Chromium
    assert re.search(r"^ℹ fail 0$", report, re.M), report
