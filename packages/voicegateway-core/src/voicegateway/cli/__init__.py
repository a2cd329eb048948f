"""The ``voicegw`` command line: one module per command.

Plain argparse: the CLI starts in tens of milliseconds and imports neither LiveKit nor any provider
SDK (plugin hook modules only).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voicegateway._version import __version__


def load_config(args: argparse.Namespace):
    """voicegw.yaml as the agents see it: validated with each installed provider's settings (a
    provider-specific key such as ``whisper: {beam_size: 1}`` is known) and its model chains
    checked against the installed providers."""
    from voicegateway.gateway import Gateway

    return Gateway(config_path=args.config, profile=args.profile).config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicegw", description="VoiceGateway: metered, budgeted speech and LLM providers."
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

    commands = (init, check, providers, prices, ingest, costs, latency, logs, sessions, export)
    commands += (reconcile,)
    for module in (*commands, budgets):
        module.add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
