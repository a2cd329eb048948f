"""Every distribution ships the license its pyproject names: hatchling puts a ``LICENSE`` beside
the pyproject into the wheel's ``.dist-info/licenses/`` and the sdist, so each distribution
directory holds its own copy (a symlink would reach an sdist dangling) of the root ``LICENSE``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))


def test_the_root_license_is_the_apache_license_of_the_voicegateway_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text
    assert "Copyright 2026 The VoiceGateway authors" in text


@pytest.mark.parametrize("directory", DISTRIBUTIONS, ids=lambda p: p.name)
def test_each_distribution_names_apache_and_holds_the_root_license(directory: Path):
    project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    license_file = directory / "LICENSE"
    assert not license_file.is_symlink(), "an sdist would carry the link, not the text"
    assert license_file.read_text() == (ROOT / "LICENSE").read_text()
    # hatchling's default license-files globs pick up LICENSE; a narrower list must keep it
    assert "LICENSE" in project.get("license-files", ["LICENSE"])
