"""The Outlook add-in: its manifest command, and its Node and browser tests run from here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


@pytest.mark.slow
def test_node_and_browser_tests_pass() -> None:
    """``node --test`` over outlook-addin/test: office-addin-mock and Chromium tests."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the add-in's tests"
    assert (ADDIN / "node_modules" / "playwright-core").is_dir(), (
        "run `npm ci` in outlook-addin/ first"
    )
    env = {**os.environ, "LEAKGUARD_BIN": str(Path(sys.executable).with_name("leakguard"))}
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
