"""A short command starts short: what one file's scan does not need is not loaded.

Every command is a new process, and in a mailing script or a CI job most of them read one
small file: the modules imported before the first byte is read are most of their time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Loaded only by the work that needs them: python-stdnum (its package start imports
# ``ssl`` and ``pydoc``) by the public ``validate`` functions, the process pool by
# ``--jobs``.
NOT_NEEDED = ("stdnum", "ssl", "pydoc", "multiprocessing", "concurrent.futures.process")

# Loaded only for the inputs that need them, never for a plain text document: the mail
# parser (``email``, with ``socket`` and ``calendar`` behind it) for a message or a
# document whose bytes are one, ``zipfile`` for ZIP and office files, the HTML and XML
# parsers for those formats, and the standard library's futures for work that runs in
# worker processes or on a cluster; ``logging`` when there is something to log (an
# engine compiled, a cache file refused), the HTML report's writer for ``--report``, and
# ``secrets`` (with ``random`` behind it) never: the random bytes come from ``os``.
NOT_NEEDED_FOR_TEXT = (
    "email",
    "zipfile",
    "html.parser",
    "xml.etree.ElementTree",
    "concurrent.futures",
    "logging",
    "html",
    "leakguard.cli._report",
    "secrets",
    "random",
)

_PROBE = """
import contextlib, io, json, os, sys
from leakguard.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = main(["scan", "--format", "json", sys.argv[1]])
print(json.dumps({
    "status": status,
    "findings": len(json.loads(out.getvalue())["messages"][0]["findings"]),
    "loaded": [m for m in sys.argv[2:] if m in sys.modules],
    "blas": os.environ.get("OPENBLAS_NUM_THREADS"),
}))
"""


def _probe(
    path: Path, env: dict[str, str] | None = None, modules: tuple[str, ...] = NOT_NEEDED
) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), *modules],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    out: dict[str, object] = json.loads(run.stdout)
    return out


def test_scanning_one_file_loads_neither_stdnum_nor_a_process_pool(tmp_path: Path) -> None:
    path = tmp_path / "virement.txt"
    # An IBAN and a NIR: both detectors run, with their layouts and checks.
    path.write_text(
        "IBAN FR76 3000 6000 0112 3456 7890 189\nNIR 1 85 05 75 112 345 29\n", encoding="utf-8"
    )
    seen = _probe(path)
    assert seen["findings"] == 2 and seen["status"] == 0
    assert seen["loaded"] == [], seen["loaded"]
    # numpy's BLAS threads are not started for array arithmetic.
    assert seen["blas"] == "1"


def test_a_text_document_is_scanned_without_the_mail_zip_html_or_xml_readers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "courrier.txt"
    path.write_text(
        "IBAN FR76 3000 6000 0112 3456 7890 189\nNIR 1 85 05 75 112 345 29\n", encoding="utf-8"
    )
    seen = _probe(path, modules=NOT_NEEDED_FOR_TEXT)
    assert seen["findings"] == 2 and seen["status"] == 0
    assert seen["loaded"] == [], seen["loaded"]


def test_a_blas_thread_count_the_user_set_is_kept(tmp_path: Path) -> None:
    import os

    path = tmp_path / "a.txt"
    path.write_text("rien\n", encoding="utf-8")
    seen = _probe(path, env={**os.environ, "OPENBLAS_NUM_THREADS": "3"})
    assert seen["blas"] == "3"
