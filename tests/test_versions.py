"""One version for every distribution, written once: the core's ``_version.py``.

Every ``packages/*/pyproject.toml`` declares its version dynamic and points hatch at that file, so
a release changes one line. Requirements between our distributions stay bounds
(``voicegateway-core>=0.1,<0.2``); they are kept in step here: each must admit the current version
and refuse the next minor, so raising the minor fails this test until the bounds move with it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from voicegateway import __version__

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "packages" / "voicegateway-core" / "src" / "voicegateway" / "_version.py"
PYPROJECTS = sorted((ROOT / "packages").glob("*/pyproject.toml"))


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_every_package_is_found():
    assert len(PYPROJECTS) == 14  # core, testkit, the user-facing one and 11 providers


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name)
def test_the_version_comes_from_the_core(pyproject):
    config = _project(pyproject)
    assert "version" not in config["project"]
    assert "version" in config["project"]["dynamic"]
    source = config["tool"]["hatch"]["version"]
    assert set(source) == {"path"}  # hatch's default source: the __version__ = "..." line
    assert (pyproject.parent / source["path"]).resolve() == VERSION_FILE


def _our_requirements(config: dict) -> list[Requirement]:
    project = config["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    requirements = [Requirement(line) for line in lines]
    return [
        r for r in requirements if r.name.startswith("voicegateway") and r.name != project["name"]
    ]


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name)
def test_requirements_on_our_distributions_move_with_the_version(pyproject):
    current = Version(__version__)
    next_minor = Version(f"{current.major}.{current.minor + 1}.0")
    for requirement in _our_requirements(_project(pyproject)):
        assert current in requirement.specifier, requirement
        assert next_minor not in requirement.specifier, requirement


def test_the_check_fails_on_a_bound_left_behind():
    stale = {"project": {"name": "voicegateway-acme", "dependencies": ["voicegateway-core<0.1"]}}
    [requirement] = _our_requirements(stale)
    assert Version(__version__) not in requirement.specifier
