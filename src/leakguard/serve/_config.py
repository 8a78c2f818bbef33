"""The service's settings, fixed when it starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServeConfig", "addin_dir"]

MB = 1024 * 1024


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
    """Seconds one check may take before the verdict reports what it could not read."""
    max_concurrent: int = field(default_factory=lambda: os.cpu_count() or 2)
    """Checks running at once; further requests wait their turn."""
    max_waiting: int = 64
    """Requests waiting for a free checker before the service answers 503."""
    addin: Path | None = field(default_factory=addin_dir)
    """Folder of the Outlook add-in (``manifest.xml``, ``src/``, ``assets/``)."""

    @property
    def deadline(self) -> float:
        """Seconds after which a request gets 503 even if its check still runs."""
        return self.time_budget * 1.5 + 2.0
