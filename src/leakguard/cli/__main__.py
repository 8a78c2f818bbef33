"""``python -m leakguard.cli``."""

from leakguard.cli import main

raise SystemExit(main())
