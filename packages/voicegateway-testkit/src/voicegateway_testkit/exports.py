"""Helpers for the tests of provider usage-export readers (``tests/test_usage_export.py``):
the readers a plugin registers, broken copies of an example export, and the check that the
resulting :class:`~voicegateway.reconcile.billed.ExportError` names the right place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from voicegateway.reconcile.billed import ExportError, UsageReader

Edit = Callable[[Any], object]


def registered_readers(plugin: ModuleType) -> dict[str, UsageReader]:
    """The readers a provider's plugin module registers through its hook, by name."""
    found: list[UsageReader] = []
    plugin.register_usage_readers(found.append)
    return {reader.name: reader for reader in found}


def set_at(*keys_and_value: Any) -> Edit:
    """An edit that sets the value at a JSON path: ``set_at("data", 1, "model", None)``."""
    *keys, value = keys_and_value

    def edit(doc: Any) -> None:
        _parent(doc, keys)[keys[-1]] = value

    return edit


def drop_at(*keys: Any) -> Edit:
    """An edit that deletes the key (or item) at a JSON path."""

    def edit(doc: Any) -> None:
        del _parent(doc, keys)[keys[-1]]

    return edit


def broken_copy(example: Path, tmp_path: Path, edit: Edit) -> Path:
    """A copy of the JSON example, under its own name in ``tmp_path``, with ``edit`` applied to
    its parsed document."""
    doc = json.loads(example.read_text())
    edit(doc)
    path = tmp_path / example.name
    path.write_text(json.dumps(doc))
    return path


def assert_export_error(
    error: ExportError, file: str, where: str, column: str | None, problem: str = ""
) -> None:
    """``error`` names ``file``, ``where`` and ``column``, in its fields and its message, and
    says ``problem``."""
    assert (error.file, error.where, error.column) == (file, where, column)
    place = f"{file}: {where}" + (f", column {column!r}" if column else "")
    assert str(error).startswith(f"{place}: "), str(error)
    assert problem in error.problem, error.problem


def run_reconcile(config: Path, *args: str | Path) -> subprocess.CompletedProcess:
    """``voicegw reconcile --config config *args`` in a fresh interpreter that sees this one's
    packages, as a CI job would run it: exit code, stdout and stderr."""
    command = [sys.executable, "-m", "voicegateway.cli", "reconcile", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [*command, *map(str, args)], capture_output=True, text=True, env=env, check=False
    )


def _parent(doc: Any, keys: list[Any] | tuple[Any, ...]) -> Any:
    for key in keys[:-1]:
        doc = doc[key]
    return doc
