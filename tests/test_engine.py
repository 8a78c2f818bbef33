"""Which content engine runs, and where it is installed by default: the compiled one
(Vectorscan through the ``hyperscan`` wheel) on the platforms that have a wheel, the
pure Python path elsewhere; ``leakguard --version`` says which."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from leakguard import __version__
from leakguard.cli import main
from leakguard.detectors import health_data

ROOT = Path(__file__).resolve().parent.parent


def _engine_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(r) for r in project["dependencies"] if r.startswith("hyperscan")]
    assert len(found) == 1
    return found[0]


def _where(
    system: str, machine: str, python: str = "3.12", impl: str = "CPython"
) -> dict[str, str]:
    return {
        "sys_platform": system,
        "platform_machine": machine,
        "python_version": python,
        "platform_python_implementation": impl,
    }


# The platforms of the wheels of hyperscan 0.9.1 (CPython 3.10-3.15), as pip sees them.
WITH_WHEELS = [
    _where("linux", "x86_64", "3.11"),
    _where("linux", "aarch64", "3.13"),
    _where("darwin", "x86_64", "3.12"),
    _where("darwin", "arm64", "3.15"),
    _where("win32", "AMD64", "3.14"),
]
WITHOUT = [
    _where("linux", "armv7l"),
    _where("linux", "ppc64le"),
    _where("linux", "s390x"),
    _where("linux", "i686"),
    _where("win32", "ARM64"),
    _where("win32", "x86"),
    _where("freebsd14", "amd64"),
    _where("linux", "x86_64", "3.16"),
    _where("linux", "x86_64", "3.12", impl="PyPy"),
]


@pytest.mark.parametrize(
    "where", WITH_WHEELS, ids=lambda w: f"{w['sys_platform']}-{w['platform_machine']}"
)
def test_the_compiled_engine_is_a_dependency_where_it_has_a_wheel(where: dict[str, str]) -> None:
    marker = _engine_requirement().marker
    assert marker is not None and marker.evaluate(where)


@pytest.mark.parametrize(
    "where",
    WITHOUT,
    ids=lambda w: (
        f"{w['sys_platform']}-{w['platform_machine']}-{w['python_version']}-{w['platform_python_implementation']}"
    ),
)
def test_no_source_build_is_asked_where_no_wheel_exists(where: dict[str, str]) -> None:
    marker = _engine_requirement().marker
    assert marker is not None and not marker.evaluate(where)


def test_the_fast_extra_still_names_the_engine() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    fast = [Requirement(r) for r in project["optional-dependencies"]["fast"]]
    assert [r.name for r in fast] == ["hyperscan"]
    assert fast[0].specifier == _engine_requirement().specifier


def test_version_names_the_compiled_engine(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"leakguard {__version__}"
    assert out[1].startswith("content engine: Vectorscan 5.")
    assert out[1].endswith(", compiled")


def test_version_names_the_pure_path_in_french(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health_data, "COMPILED", False)
    with pytest.raises(SystemExit):
        main(["--lang", "fr", "--version"])
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "moteur de contenu : Python pur (numpy)"
