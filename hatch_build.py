"""The build's hook: an editable install compiles the package's modules once.

pip compiles a package's modules as it installs it, so each command loads them ready.
An editable install leaves them in the source folder instead, where Python compiles
them again at every start if it may not write its cache there (``PYTHONDONTWRITEBYTECODE``,
set in many containers): 0.12 s more for every command, more than checking a message
takes. The editable build writes that cache itself; a module changed afterwards is
compiled again as Python always does.
"""

from __future__ import annotations

import compileall
import py_compile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileEditable(BuildHookInterface):
    """Compiles ``src/leakguard`` for an editable wheel; leaves other builds alone."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            # A module that does not compile fails where it is imported, as before:
            # the install goes on.
            compileall.compile_dir(
                Path(self.root, "src", "leakguard"),
                quiet=1,
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
