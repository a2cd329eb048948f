"""docs/architecture.md and the import check agree, every module of the core has a layer, and the
check fails on an import that points up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "packages" / "voicegateway-core" / "src" / "voicegateway"


def _contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract["layers"]


def _documented_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Layers of the core") :]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block, "docs/architecture.md: the layers section has no ```text block of layers"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _names(layers: list[str]) -> list[str]:
    return [name.strip() for line in layers for name in line.split(":")]


def test_the_architecture_document_lists_the_layers_the_lint_checks():
    assert _documented_layers() == _contract_layers()


def test_every_module_of_the_core_has_exactly_one_layer():
    listed = _names(_contract_layers())
    modules = sorted(
        p.stem if p.is_file() else p.name
        for p in CORE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()
    )
    assert sorted(listed) == modules
    assert len(listed) == len(set(listed))


def test_the_check_fails_on_an_import_that_points_up(tmp_path):
    copy = tmp_path / "voicegateway"
    shutil.copytree(CORE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    records = copy / "records.py"
    records.write_text(records.read_text() + "\n\nfrom voicegateway import gateway  # up\n")
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    broken = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "voicegateway.records is not allowed to import voicegateway.gateway" in broken.stdout
    records.write_text(records.read_text().replace("from voicegateway import gateway  # up", ""))
    kept = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert kept.returncode == 0, kept.stdout + kept.stderr
