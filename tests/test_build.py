"""The package's build: an editable install compiles every module it leaves in the
source folder (``hatch_build.py``), so that a command does not compile them again at
each start where Python may not write its cache; a wheel leaves that to the installer,
which compiles as it installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiled import up_to_date

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("hatchling", reason="the build backend is in the test extra")


def _project(tmp: Path) -> Path:
    """A copy of what a build reads, without any compiled module."""
    root = tmp / "project"
    root.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy2(ROOT / name, root / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
    shutil.copytree(ROOT / "src", root / "src", ignore=skip)
    shutil.copytree(ROOT / "outlook-addin", root / "outlook-addin", ignore=skip)
    return root


def _build(root: Path, how: str) -> list[Path]:
    """Build with the backend as pip calls it; the wheels made."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    code = f"import hatchling.build as b; b.{how}('dist')"
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, capture_output=True)
    return sorted((root / "dist").glob("*.whl"))


def _modules(root: Path) -> list[Path]:
    return sorted((root / "src" / "leakguard").rglob("*.py"))


def test_an_editable_build_compiles_every_module(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert not any(up_to_date(p) for p in _modules(root))
    assert _build(root, "build_editable")
    stale = [str(p.relative_to(root)) for p in _modules(root) if not up_to_date(p)]
    assert not stale, stale
    assert len(_modules(root)) > 100


def test_a_wheel_leaves_the_source_folder_alone(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _build(root, "build_wheel")
    assert not list((root / "src").rglob("__pycache__"))
