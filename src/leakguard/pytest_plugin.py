"""The pytest plugin: leakguard checks in the CI a mailing project already has.

Installed with leakguard (entry point ``pytest11``: ``leakguard``); ``-p no:leakguard``
turns it off. It does nothing until configured. In ``pytest.ini`` / ``pyproject.toml``::

    [tool.pytest.ini_options]
    leakguard_policy = "leakguard-policy.toml"     # relative to this file
    leakguard_directory = "colleagues.csv"
    leakguard_messages = ["tests/messages/*.eml"]  # each file becomes a test
    leakguard_fail_on = "encrypt"                  # the default

Command-line equivalents: ``--leakguard-policy``, ``--leakguard-directory`` (relative to
the current directory) and ``--leakguard-fail-on``. The ``leakguard_guard`` fixture is
the session's :class:`~leakguard.guard.Guard`, the one :mod:`leakguard.testing` uses
by default.

Each collected ``.eml`` fails when its action reaches ``leakguard_fail_on``, unless a
``leakguard-expected.toml`` beside it names what that file must get::

    "welcome.eml" = "allow"
    "invoice.eml" = ["encrypt", "block"]

When a policy or a directory is configured, the guard is built as the session starts,
so a missing or wrong file stops the session at once with one line naming it (pytest's
usage error, exit status 4) instead of failing every test. Imports stay light: the
document readers (PDF, Office) are imported when the first message is checked.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from leakguard import testing

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from leakguard.guard import Guard

__all__ = ["EXPECTED_FILE", "LeakguardFile", "LeakguardItem"]

EXPECTED_FILE = "leakguard-expected.toml"
_ACTIONS = ("allow", "warn", "encrypt", "block")
_MATCHED = pytest.StashKey[frozenset[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leakguard", "leakguard: outgoing e-mail checks")
    group.addoption(
        "--leakguard-policy",
        metavar="FILE",
        help="policy TOML for leakguard checks (overrides the leakguard_policy ini option)",
    )
    group.addoption(
        "--leakguard-directory",
        metavar="FILE",
        help="colleagues' directory for leakguard checks (CSV, list, vCard or LDIF)",
    )
    group.addoption(
        "--leakguard-fail-on",
        choices=_ACTIONS[1:],
        help="action from which a collected .eml fails (default: encrypt)",
    )
    parser.addini("leakguard_policy", "leakguard policy TOML, relative to the ini file")
    parser.addini("leakguard_directory", "colleagues' directory, relative to the ini file")
    parser.addini(
        "leakguard_messages",
        "glob patterns (relative to the ini file) of .eml files to check as tests",
        type="args",
    )
    parser.addini(
        "leakguard_fail_on", "action from which a collected .eml fails", default="encrypt"
    )


def _base(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath is not None else config.rootpath


def _path(config: pytest.Config, option: str, ini: str) -> Path | None:
    value = config.getoption(option)
    if value:
        return Path(config.invocation_params.dir, value)
    raw = str(config.getini(ini) or "").strip()
    return _base(config) / raw if raw else None


def pytest_configure(config: pytest.Config) -> None:
    policy_path = _path(config, "leakguard_policy", "leakguard_policy")
    directory_path = _path(config, "leakguard_directory", "leakguard_directory")
    if policy_path or directory_path:
        from leakguard.errors import LeakguardError
        from leakguard.guard import Guard

        lang = testing._lang()
        try:
            guard = Guard(policy_path, directory=directory_path, lang=lang)
        except LeakguardError as exc:
            head = "leakguard : " if lang == "fr" else "leakguard: "
            raise pytest.UsageError(head + exc.message(lang)) from None
        testing._configure(lambda: guard)


def pytest_unconfigure(config: pytest.Config) -> None:
    testing._configure(None)


@pytest.fixture(scope="session")
def leakguard_guard() -> Guard:
    """The guard built from ``leakguard_policy`` and ``leakguard_directory`` (or defaults)."""
    return testing.default_guard()


def _matched(config: pytest.Config) -> frozenset[Path]:
    found = config.stash.get(_MATCHED, None)
    if found is None:
        base = _base(config)
        found = frozenset(
            p.resolve()
            for pattern in config.getini("leakguard_messages")
            for p in base.glob(pattern)
            if p.is_file() and p.suffix.lower() == ".eml"
        )
        config.stash[_MATCHED] = found
    return found


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> LeakguardFile | None:
    config = parent.config
    if not config.getini("leakguard_messages") or file_path.suffix.lower() != ".eml":
        return None  # not configured: the plugin stays out of the way
    if file_path.resolve() not in _matched(config):
        return None
    file: LeakguardFile = LeakguardFile.from_parent(parent, path=file_path)
    return file


class LeakguardFile(pytest.File):
    """A stored message: one test."""

    def collect(self) -> Iterator[LeakguardItem]:
        yield LeakguardItem.from_parent(self, name=self.path.name)


class LeakguardItem(pytest.Item):
    """Checks one ``.eml`` against the fail-on action or its expected actions."""

    def _allowed(self) -> tuple[str, ...]:
        expected_file = self.path.parent / EXPECTED_FILE
        if expected_file.is_file():
            try:
                table = tomllib.loads(expected_file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise pytest.UsageError(
                    testing._t(
                        f"{expected_file}: not valid TOML ({exc})",
                        f"{expected_file} : ce n'est pas du TOML valide ({exc})",
                    )
                ) from None
            value = table.get(self.path.name)
            if value is not None:
                names = (value,) if isinstance(value, str) else tuple(value)
                bad = [n for n in names if n not in _ACTIONS]
                if bad or not names:
                    allowed = ", ".join(_ACTIONS)
                    raise pytest.UsageError(
                        testing._t(
                            f"{expected_file}: {self.path.name!r} expects {value!r}; "
                            f"allowed: {allowed}",
                            f"{expected_file} : {self.path.name!r} attend {value!r} ; "
                            f"actions possibles : {allowed}",
                        )
                    )
                return names
        fail_on = self.config.getoption("leakguard_fail_on") or str(
            self.config.getini("leakguard_fail_on")
        )
        if fail_on not in _ACTIONS[1:]:
            allowed = ", ".join(_ACTIONS[1:])
            raise pytest.UsageError(
                testing._t(
                    f"leakguard_fail_on = {fail_on!r}; allowed: {allowed}",
                    f"leakguard_fail_on = {fail_on!r} ; valeurs possibles : {allowed}",
                )
            )
        return _ACTIONS[: _ACTIONS.index(fail_on)]

    def runtest(self) -> None:
        testing.assert_action(self.path, *self._allowed())

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"leakguard: {self.path.name}"
