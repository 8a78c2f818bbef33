"""Every letter of the mail merge may leave; the newsletter carries no number."""

from __future__ import annotations

import pytest
from mailmerge import newsletter, render, rows

from leakguard.testing import assert_action, assert_no_identifiers

ROWS = {row["name"]: row for row in rows()}


# Parametrized by name, not by row: pytest prints a failing test's arguments, and a row
# holds the patient's number in clear.
@pytest.mark.parametrize("name", list(ROWS))
def test_each_letter_may_leave(name: str) -> None:
    # Allowed or, at worst, a warning: a letter that must be encrypted or blocked fails.
    assert_action(render(ROWS[name]), "allow", "warn")


def test_the_newsletter_carries_no_identifier() -> None:
    assert_no_identifiers(newsletter())


def test_the_guard_uses_the_project_policy(leakguard_guard) -> None:
    # The plugin built it from leakguard_policy and leakguard_directory in pyproject.toml.
    assert leakguard_guard.register is not None
    assert len(leakguard_guard.directory) == 2
