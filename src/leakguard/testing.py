"""Assertions for tests of code that sends e-mail: mailing scripts, templates, mail merges.

    from leakguard.testing import assert_action, assert_no_identifiers

    def test_reminder_letter():
        assert_action(render_reminder(row), "allow", "warn")

    def test_newsletter_carries_no_patient_number():
        assert_no_identifiers(build_newsletter())

``message`` is raw bytes, a path to an ``.eml`` file or an
:class:`email.message.EmailMessage`. Without ``guard=``, the guard is the one the pytest
plugin's ``leakguard_policy`` / ``leakguard_directory`` options configure, else the
embedded default policy. On failure the :class:`AssertionError` text is the verdict's
explanation, in French or English after the locale: identifiers appear masked, never in
clear, so a CI log can be shared.

This module imports the checking machinery only when an assertion runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakguard.core import Action, Lang, Verdict
    from leakguard.guard import Guard

__all__ = ["assert_action", "assert_no_identifiers", "default_guard"]

Message = bytes | str | os.PathLike[str] | EmailMessage

# Set by the pytest plugin while a session runs: builds the guard its options describe.
_factory: Callable[[], Guard] | None = None
_cached: Guard | None = None


def _configure(factory: Callable[[], Guard] | None) -> None:
    """Install (or, with ``None``, remove) the builder of the default guard."""
    global _factory, _cached
    _factory, _cached = factory, None


def default_guard() -> Guard:
    """The guard the pytest options configure, else one with the embedded policy (cached)."""
    global _cached
    if _cached is None:
        if _factory is not None:
            _cached = _factory()
        else:
            from leakguard.guard import Guard

            _cached = Guard()
    return _cached


def _lang() -> Lang:
    from leakguard.cli._common import lang

    return lang()


def _t(en: str, fr: str) -> str:
    return fr if _lang() == "fr" else en


def _name(message: Message) -> str | None:
    if isinstance(message, (str, os.PathLike)):
        return os.fspath(message)
    return None


def assert_action(message: Message, *allowed: str | Action, guard: Guard | None = None) -> Verdict:
    """Check ``message`` and fail unless its action is one of ``allowed``; returns the verdict.

    ``allowed`` are action names (``"allow"``, ``"warn"``, ``"encrypt"``, ``"block"``) or
    :class:`~leakguard.core.Action` values; at least one is needed.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    from leakguard.core import Action

    if not allowed:
        raise TypeError(
            _t(
                "assert_action needs at least one allowed action, e.g. assert_action(msg, 'allow')",
                "assert_action demande au moins une action permise, par exemple "
                "assert_action(msg, 'allow')",
            )
        )
    try:
        wanted = [a if isinstance(a, Action) else Action.parse(a) for a in allowed]
    except ValueError:
        names = ", ".join(a.value for a in Action)
        raise ValueError(
            _t(
                f"assert_action: unknown action among {allowed!r}; allowed: {names}",
                f"assert_action : action inconnue parmi {allowed!r} ; actions possibles : {names}",
            )
        ) from None
    verdict = (guard or default_guard()).check(message, source=_name(message))
    if verdict.action not in wanted:
        names = " / ".join(a.value for a in wanted)
        head = _t(
            f"leakguard: expected {names}, got {verdict.action.value}",
            f"leakguard : attendu {names}, obtenu {verdict.action.value}",
        )
        where = f" ({verdict.source})" if verdict.source else ""
        raise AssertionError(f"{head}{where}\n{verdict.explain(_lang())}")
    return verdict


def assert_no_identifiers(message: Message, *, guard: Guard | None = None) -> Verdict:
    """Fail when ``message`` carries any personal or bank identifier; returns the verdict."""
    __tracebackhide__ = True
    from leakguard.core import IDENTIFIER_KINDS

    verdict = (guard or default_guard()).check(message, source=_name(message))
    found = [f for f in verdict.findings if f.kind in IDENTIFIER_KINDS]
    if found:
        lang = _lang()
        where = f" ({verdict.source})" if verdict.source else ""
        n = len(found)
        head = _t(
            f"leakguard: {n} identifier{'s' if n > 1 else ''} found{where}",
            f"leakguard : {n} identifiant{'s' if n > 1 else ''} trouvé{'s' if n > 1 else ''}"
            f"{where}",
        )
        lines = [f"- [{f.location.label(lang)}] {f.message(lang)}" for f in found]
        raise AssertionError("\n".join([head, *lines]))
    return verdict
