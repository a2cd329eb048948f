"""Every error a user can see is a ``VoiceGatewayError``, and ``voicegw`` turns each into one line
per problem with the right exit status (``cli.failure``, the one error path)."""

from __future__ import annotations

import importlib
import pkgutil
import types
from pathlib import Path

import duckdb

import voicegateway
from voicegateway.cli import failure
from voicegateway.config import ConfigError, ConfigIssue, MissingEnvError, UnknownProjectError
from voicegateway.errors import VoiceGatewayError
from voicegateway.ledger.migrations import SchemaError
from voicegateway.ledger.writer import LedgerBusy
from voicegateway.reconcile.billed import ExportError
from voicegateway.reconcile.run import BadInput


def core_modules() -> list[types.ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(voicegateway.__path__, "voicegateway.")]
    return [importlib.import_module(name) for name in names if not name.endswith("__main__")]


def plain_errors(modules: list[types.ModuleType]) -> list[str]:
    """The public exception classes defined in ``modules`` that are not VoiceGatewayErrors. A
    private one (``_Failed``) never leaves its module."""
    found = []
    for module in modules:
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
                and not issubclass(value, VoiceGatewayError)
            ):
                found.append(f"{module.__name__}.{name}")
    return found


def test_every_public_error_of_the_core_is_a_voicegateway_error():
    modules = core_modules()
    assert len(modules) > 50  # the walk reached the subpackages
    assert plain_errors(modules) == []


def test_the_check_finds_a_plain_exception_subclass():
    module = types.ModuleType("voicegateway.new_thing")
    exec("class Oops(Exception): pass\nclass _Inner(ValueError): pass", vars(module))
    assert plain_errors([module]) == ["voicegateway.new_thing.Oops"]


def test_a_value_error_keeps_its_standard_base_for_callers_that_catch_one():
    for cls in (UnknownProjectError, ExportError, BadInput):
        assert issubclass(cls, VoiceGatewayError) and issubclass(cls, ValueError)


def test_the_cli_prints_one_line_per_problem_and_exits_2_for_bad_input():
    issues = [
        ConfigIssue(Path("/x/voicegw.yaml"), 3, 5, "projects.app", "bad"),
        ConfigIssue(Path("/x/voicegw.yaml"), 9, None, "models", "worse", hint="fix it"),
    ]
    lines, status = failure(ConfigError(issues, Path("/x/voicegw.yaml")))
    assert (lines, status) == (
        ["/x/voicegw.yaml:3:5: projects.app: bad", "/x/voicegw.yaml:9: models: worse; fix it"],
        2,
    )
    for exc in (
        ExportError("usage.csv", "row 4", "amount", "not a number"),
        MissingEnvError("OPENAI_API_KEY", "providers.openai.api_key"),
        UnknownProjectError("ap", ["app"], "app"),
        ValueError("--until must be after --since"),
    ):
        assert failure(exc) == ([str(exc)], 2)


def test_a_state_of_the_machine_exits_1():
    for exc in (
        LedgerBusy("ledger.duckdb is held by another process"),
        SchemaError("ledger.duckdb: written by a newer VoiceGateway"),
        OSError("disk full"),
        duckdb.IOException("cannot open"),
    ):
        assert failure(exc) == ([str(exc)], 1)
    lines, status = failure(KeyError("x"))
    assert status == 1 and lines[0].startswith("unexpected KeyError")
