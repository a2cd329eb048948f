"""Helpers for the tests of provider usage-export readers (``tests/test_usage_export.py``):
the readers a plugin registers, broken copies of an example export, the check that the
resulting :class:`~voicegateway.reconcile.billed.ExportError` names the right place, and the
pieces of an end-to-end run: real LLM calls recorded in a ledger (on a chosen day), then
``voicegw reconcile`` on exports of what the provider billed for them."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
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


def installed_claims(exports: Path, module: str) -> tuple[bool, dict[str, list[str]]]:
    """Through the plugin host ``voicegw reconcile`` uses, in a fresh interpreter: whether
    loading every installed plugin's readers imported ``module`` (the parsing module, which
    should stay unloaded), and the readers that claim each ``*.json`` file in ``exports``."""
    script = textwrap.dedent(f"""
        import json, pathlib, sys
        from voicegateway.plugins import PluginHost

        readers = PluginHost().usage_readers()
        loaded = {module!r} in sys.modules
        claims = {{
            path.name: [r.name for r in readers if r.sniff(path.name, path.read_bytes()[:65536])]
            for path in sorted(pathlib.Path({str(exports)!r}).glob("*.json"))
        }}
        print(json.dumps({{"loaded": loaded, "claims": claims}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return result["loaded"], result["claims"]


def ledger_config(folder: Path, provider: str, block: Mapping[str, Any]) -> Path:
    """A voicegw.yaml in ``folder`` with one provider block and a ledger there that flushes
    fast, for calls made in other processes (JSON is valid YAML)."""
    config = folder / "voicegw.yaml"
    storage = {"path": str(folder / "usage.duckdb"), "flush_interval": 0.1}
    config.write_text(json.dumps({"providers": {provider: dict(block)}, "storage": storage}))
    return config


_LLM_CALLS = textwrap.dedent("""
    import asyncio, datetime, json, sys
    from livekit.agents import llm
    import voicegateway
    from voicegateway import inference
    from voicegateway_testkit.ledger_days import record_days

    config, model, calls, messages, day = sys.argv[1:]
    gateway = voicegateway.configure(config)
    if day:  # records stamped with this day, as if the calls had run then
        record_days(gateway, datetime.date.fromisoformat(day))

    async def main():
        chat = inference.LLM(model)
        ctx = llm.ChatContext.empty()
        for role, content in json.loads(messages):
            ctx.add_message(role=role, content=content)
        for _ in range(int(calls)):
            async with chat.chat(chat_ctx=ctx) as stream:
                async for _ in stream:
                    pass

    asyncio.run(main())
""")


def record_llm_calls(
    config: Path,
    model: str,
    calls: int,
    messages: Sequence[tuple[str, str]],
    *,
    day: datetime.date | None = None,
) -> None:
    """Make ``calls`` streamed chats of ``messages`` (role, content) with ``inference.LLM(model)``
    in a fresh process configured by ``config``, their records stamped with ``day`` if given."""
    args = [str(config), model, str(calls), json.dumps(messages), day.isoformat() if day else ""]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    job = subprocess.run([sys.executable, "-c", _LLM_CALLS, *args], env=env, check=False)
    assert job.returncode == 0


def reconcile_rows(config: Path, *args: str | Path, exit_code: int = 0) -> list[dict[str, Any]]:
    """The rows of ``voicegw reconcile --format json *args``, which must exit with ``exit_code``
    (0: everything agrees, 1: something is flagged)."""
    done = run_reconcile(config, "--format", "json", *args)
    assert done.returncode == exit_code, done.stdout + done.stderr
    return json.loads(done.stdout)["rows"]


def check_missing_day(
    rows: list[dict[str, Any]], quiet: datetime.date, day: datetime.date
) -> dict[str, Any]:
    """The rows of an export whose period holds ``quiet``, a day the provider billed nothing and
    we recorded calls: that day is flagged for coverage, ``day`` agrees. Returns our side of the
    quiet day's row, to check its units."""
    by_day = {row["day"]: row for row in rows}
    assert set(by_day) == {str(quiet), str(day)}
    gone = by_day[str(quiet)]
    assert (gone["status"], gone["cause"], gone["theirs"]) == ("flagged", "coverage", None)
    assert by_day[str(day)]["status"] == "ok"
    return gone["ours"]


def check_refused(config: Path, exports: Sequence[Path], message: str) -> None:
    """``voicegw reconcile`` exits 2 on these exports, says ``message`` and reports nothing."""
    done = run_reconcile(config, "--format", "json", *exports)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def _parent(doc: Any, keys: list[Any] | tuple[Any, ...]) -> Any:
    for key in keys[:-1]:
        doc = doc[key]
    return doc
