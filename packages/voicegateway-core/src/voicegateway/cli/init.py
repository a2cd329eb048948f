"""``voicegw init``: write a commented starter voicegw.yaml.

The file is named the way every command names it: ``--config PATH``, else ``$VOICEGW_CONFIG``,
else ``./voicegw.yaml``, so ``voicegw check`` run the same way reads the file just written.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from voicegateway.errors import VoiceGatewayError

EXAMPLES = ("voicegw init", "voicegw init --config deploy/voicegw.yaml --force")


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "init",
        parents=[common],
        help="write a commented starter voicegw.yaml",
        description="Writes to --config PATH, else $VOICEGW_CONFIG, else ./voicegw.yaml.",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(run=run)


def run(args) -> int:
    target = Path(args.config or os.environ.get("VOICEGW_CONFIG") or "voicegw.yaml")
    if target.exists() and not args.force:
        raise VoiceGatewayError(f"{target} already exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(files("voicegateway.config").joinpath("starter.yaml").read_text())
    check = "voicegw check" + (f" --config {args.config}" if args.config else "")
    print(f"wrote {target}; set the keys it names (for example OPENAI_API_KEY), then run `{check}`")
    return 0
