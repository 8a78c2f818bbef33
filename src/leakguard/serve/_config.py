"""The service's settings, fixed when it starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServeConfig", "addin_dir"]

MB = 1024 * 1024
ADDIN_WAIT = 15.0
"""Seconds the add-in waits for an answer before telling the person the check did not run."""


def addin_dir() -> Path | None:
    """The add-in's files: shipped in the package, or the source checkout's folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "addin", here.parents[2] / "outlook-addin"):
        if (candidate / "manifest.xml").is_file():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """How ``leakguard serve`` answers; ``repr`` hides the token."""

    token: str = field(repr=False)
    allow_origins: tuple[str, ...] = ()
    max_body_bytes: int = 35 * MB
    """Largest request accepted (413 beyond)."""
    time_budget: float = 8.0
    """Seconds a request may take from its arrival (its body read, then its check) before
    the verdict reports what could not be read."""
    max_concurrent: int = field(default_factory=lambda: os.cpu_count() or 2)
    """Checks running at once; further requests wait their turn."""
    max_waiting: int = 64
    """Requests waiting for a free checker before the service answers 503."""
    max_memory_bytes: int = 512 * MB
    """Memory the requests being read and checked may hold together (503 beyond)."""
    footprint: float = 8.0
    """Bytes a check holds per byte of its request, at its peak (the body, the request's
    JSON parsed, the message built from it, the decoded attachments and their text)."""
    header_timeout: float = 5.0
    """Seconds a connection may stay open without a complete request head."""
    grace: float = 1.0
    """Seconds past the time budget after which a check still running gets 503."""
    addin: Path | None = field(default_factory=addin_dir)
    """Folder of the Outlook add-in (``manifest.xml``, ``src/``, ``assets/``)."""

    @property
    def deadline(self) -> float:
        """Seconds after a request's arrival by which it is answered, whatever happens."""
        return self.time_budget + self.grace
