"""``python -m leakguard.cli``."""

from leakguard.cli import run

run()
