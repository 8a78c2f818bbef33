"""A pytest plugin: no number in clear in what a test run prints.

The suite is full of test vectors in the shape of real identifiers, and pytest prints
what it knows at a failure: the values an assertion compared, the arguments of the calls
in it, what the test wrote. Here a parametrized test's name and a failed test's report
(its traceback, its captured output and logs) show every number of six digits or more,
separators between its groups included, with each digit as 9: the layout stays
readable, the value does not. Loaded by ``conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import pytest

# Six digits or more, up to two separators between two of them (spaces, tabs, line
# breaks, dots, dashes, slashes and the non-breaking spaces French text puts between
# groups): every layout the detectors read.
_NUMBER = re.compile(r"[0-9](?:[ \t\n.\-/\u00a0\u202f]{0,2}[0-9]){5,}")
_DIGIT = re.compile(r"[0-9]")


def hidden(text: str) -> str:
    """``text`` with each number of six digits or more written with 9 for every digit."""
    return _NUMBER.sub(lambda m: _DIGIT.sub("9", m.group()), text)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A parameter holding a number (text, bytes or an integer of six digits or more) is
    named with its digits as 9; other parameters keep pytest's own names."""
    if isinstance(val, bytes):
        val = val.decode("latin-1")
    elif isinstance(val, int) and not isinstance(val, bool):
        val = str(val)
    if not isinstance(val, str) or _NUMBER.search(val) is None:
        return None
    shown = hidden(val)
    return shown if shown.isprintable() else shown.encode("unicode_escape").decode("ascii")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """A failed test's report, with its numbers hidden: the traceback and the sections
    (captured output and logs) as text."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    if report.longrepr is not None:
        report.longrepr = hidden(str(report.longrepr))
    report.sections = [(title, hidden(body)) for title, body in report.sections]
