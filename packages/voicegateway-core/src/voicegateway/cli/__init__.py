"""The ``voicegw`` command line: one module per command.

Plain argparse: the CLI starts in tens of milliseconds and imports neither LiveKit nor any provider
SDK (plugin hook modules only). Each command module has ``add_parser(sub, common)``, its ``run``,
and ``EXAMPLES``, shown at the end of its ``--help``.

Errors take one path (:func:`main`): a mistake in the command line, voicegw.yaml or a value is one
line per problem on stderr, naming the file and line where there is one, and exit status 2; a
ledger that is locked or too new is one line and status 1. Never a traceback (``VOICEGW_DEBUG=1``
shows one for an unexpected failure).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from types import ModuleType

from voicegateway._version import __version__

EXIT_BAD_INPUT = 2
"""The exit status for a mistake in the command line, voicegw.yaml or a file read."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the usage block is what ``--help`` is for."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def load_config(args: argparse.Namespace):
    """voicegw.yaml as the agents see it: validated with each installed provider's settings (a
    provider-specific key such as ``whisper: {beam_size: 1}`` is known) and its model chains
    checked against the installed providers."""
    from voicegateway.gateway import Gateway

    return Gateway(config_path=args.config, profile=args.profile).config


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="voicegw",
        description="VoiceGateway: metered, budgeted speech and LLM providers.",
        epilog="example:\n  voicegw init && voicegw check\n\n"
        "`voicegw COMMAND --help` describes a command, with examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"voicegw {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="voicegw.yaml to use (default: $VOICEGW_CONFIG, ./voicegw.yaml, "
        "~/.config/voicegateway/voicegw.yaml)",
    )
    common.add_argument("--profile", help="profile to apply (default: $VOICEGW_PROFILE)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from voicegateway.cli import (
        budgets,
        check,
        costs,
        export,
        ingest,
        init,
        latency,
        logs,
        prices,
        providers,
        reconcile,
        sessions,
    )

    commands: tuple[ModuleType, ...] = (init, check, providers, prices, ingest, costs, latency)
    commands += (logs, sessions, export, reconcile, budgets)
    for module in commands:
        module.add_parser(sub, common)
        added = sub._choices_actions[-1]  # the command's name and its one-line help
        _describe(sub.choices[added.dest], added.help or "", getattr(module, "EXAMPLES", ()))
    parser.set_defaults(commands=sub.choices)
    return parser


def _describe(p: argparse.ArgumentParser, summary: str, examples: Sequence[str]) -> None:
    """``--help`` of a command: its one-line summary first, then any longer description, its
    options, then its examples."""
    first = f"{summary[:1].upper()}{summary[1:]}."
    rest = p.description if p.description and p.description != first else ""
    p.description = "\n\n".join([first, *([textwrap.fill(rest, 88)] if rest else [])])
    if examples:
        p.epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples)
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra:  # named by the command they were given to, not by `voicegw`
        args.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    name = f"voicegw {args.command}"
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `voicegw logs | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    except Exception as exc:
        if os.environ.get("VOICEGW_DEBUG"):
            raise
        lines, status = failure(exc)
        print("\n".join(f"{name}: {line}" for line in lines), file=sys.stderr)
        return status


def failure(exc: Exception) -> tuple[list[str], int]:
    """What to print for an error (one line per problem) and the exit status: every error
    VoiceGateway raises on purpose is a ``VoiceGatewayError`` that says whether it is bad input;
    of the standard library's, a ``ValueError`` is a value given (exit 2), an ``OSError`` or a
    DuckDB error the machine's state (exit 1)."""
    import duckdb

    from voicegateway.errors import VoiceGatewayError

    if isinstance(exc, VoiceGatewayError):
        return exc.problems(), EXIT_BAD_INPUT if exc.bad_input else 1
    if isinstance(exc, ValueError):
        return [str(exc)], EXIT_BAD_INPUT
    if isinstance(exc, OSError | duckdb.Error):
        return [str(exc)], 1
    return [
        f"unexpected {type(exc).__name__}: {exc} (VOICEGW_DEBUG=1 shows where; please report it)"
    ], 1


if __name__ == "__main__":
    sys.exit(main())
