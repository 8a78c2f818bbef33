"""Running the ``leakguard`` command inside a test."""

from __future__ import annotations

import pytest

from leakguard.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``leakguard ARGS...``: the exit status, standard output and standard error."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
