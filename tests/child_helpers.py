"""Children forked for a long text's reading, in tests: allowed whatever threads other
tests left behind, and their answers watched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from leakguard import _child


@contextmanager
def watched_children() -> Iterator[list[str]]:
    """A child allowed at every start (two cores, one thread, no ``LEAKGUARD_PROCESSES``);
    gives the list of what became of each answer awaited: ``answered`` or ``failed``."""
    seen: list[str] = []
    result = _child.Child.result

    def spied(self: _child.Child[Any], deadline: Any = None) -> Any:
        try:
            answer = result(self, deadline)
        except _child.ChildFailed:
            seen.append("failed")
            raise
        seen.append("answered")
        return answer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_child, "_one_thread", lambda: True)
        mp.setattr(_child, "_cores", lambda: 2)
        mp.setattr(_child, "_forbidden", False)
        mp.delenv(_child.ENV, raising=False)
        mp.setattr(_child.Child, "result", spied)
        yield seen
