"""Shared test set-up: the property tests' CI profile, the reader's locale, test names
that show no number in clear, a few messages."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from helpers import NIR, NIR_SPACED, message

# Test names and failure reports show no number in clear (see hidden_numbers.py).
from hidden_numbers import pytest_make_parametrize_id, pytest_runtest_makereport  # noqa: F401

# In CI the property tests draw the same examples on every run, so a result depends on
# the code and not on the draw; locally they explore new examples each time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# A shell that starts the suite in the background (`cmd &` without job control) starts
# it with Ctrl-C ignored, and programs inherit that: the Ctrl-C tests would interrupt
# nothing. Caught here, it is the default again in every program the tests start.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")

# The tests read the English texts unless they ask for French (the fixtures below): a
# reader whose own locale is French runs the same suite. Child processes inherit it.
for _var in _LOCALE_VARS:
    os.environ.pop(_var, None)
os.environ["LANG"] = "C.UTF-8"


@pytest.fixture
def french(monkeypatch: pytest.MonkeyPatch) -> None:
    """A French locale (``LANG=fr_FR.UTF-8``) and nothing that overrides it."""
    for var in _LOCALE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """An English locale (``LANG=en_GB.UTF-8``) and nothing that overrides it."""
    for var in _LOCALE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")


@pytest.fixture
def mails(tmp_path: Path) -> Path:
    """A folder of three messages (allow, encrypt, block with ``colleagues``) and a note."""
    d = tmp_path / "out"
    d.mkdir()
    (d / "1-plain.eml").write_bytes(message(body="La réunion est à 14 h.\n").as_bytes())
    (d / "2-nir.eml").write_bytes(message(pdf_lines=["Bordereau", f"NIR {NIR_SPACED}"]).as_bytes())
    (d / "3-typo.eml").write_bytes(
        message(to="Marc Lecompte <m.lecompte@gmail.com>", pdf_lines=[f"NIR {NIR}"]).as_bytes()
    )
    (d / "notes.txt").write_text("not a message", encoding="utf-8")
    return d


@pytest.fixture
def colleagues(tmp_path: Path) -> Path:
    f = tmp_path / "colleagues.csv"
    f.write_text("email,name\nm.lecomte@gmail.com,Marc Lecomte\n", encoding="utf-8")
    return f


# The detector tests compare the bulk search with every detector's own patterns; a
# short text would otherwise take the patterns (see ``detectors.iter_identifiers``).
_BULK_ON_SHORT_TEXTS = {
    "test_detectors_properties",
    "test_detectors_vectors",
    "test_detector_gaps",
    "test_third_party_vectors",
    "test_detectors_robustness",
}


@pytest.fixture(autouse=True, scope="module")
def _bulk_search_on_short_texts(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.module.__name__ not in _BULK_ON_SHORT_TEXTS:
        yield
        return
    from leakguard.detectors import _bulk

    saved = _bulk.SMALL
    _bulk.SMALL = 0
    try:
        yield
    finally:
        _bulk.SMALL = saved
