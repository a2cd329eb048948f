"""``voicegw init``: write a commented starter voicegw.yaml."""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path


def add_parser(sub, common) -> None:
    p = sub.add_parser("init", parents=[common], help="write a commented starter voicegw.yaml")
    p.add_argument("path", nargs="?", help="where to write it (default: ./voicegw.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(run=run)


def run(args) -> int:
    target = Path(args.path or args.config or "voicegw.yaml")
    if target.exists() and not args.force:
        print(
            f"voicegw init: {target} already exists; pass --force to overwrite it", file=sys.stderr
        )
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(files("voicegateway.config").joinpath("starter.yaml").read_text())
    print(
        f"wrote {target}; set the keys it names (for example OPENAI_API_KEY), then run "
        "`voicegw check`"
    )
    return 0
