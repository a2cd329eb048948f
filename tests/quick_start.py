"""The README's quick start, as its text says it: the install lines, the quick-start lines and
the Python snippet, read from README.md so the tests run exactly what a user copies."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXTRAS = ("openai", "deepgram")
"""The extras the quick start installs."""
KEYS = {"OPENAI_API_KEY": "sk-quick-start-0123456789", "DEEPGRAM_API_KEY": "dg-quick-start-0123"}


@dataclass(frozen=True)
class QuickStart:
    install: list[str]
    commands: list[str]
    snippet: str

    def commands_with_keys(self) -> list[str]:
        """The quick-start lines with the ``...`` of ``export KEY=...`` filled in."""
        return [
            re.sub(r"\b(\w+_API_KEY)=\.\.\.", lambda m: f"{m[1]}={KEYS[m[1]]}", line)
            for line in self.commands
        ]


def quick_start() -> QuickStart:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    shells = [body for lang, body in blocks if lang == "bash"]
    [snippet] = [body for lang, body in blocks if lang == "python"][:1]
    install, commands = ([line for line in b.splitlines() if line.strip()] for b in shells[:2])
    return QuickStart(install, commands, snippet)


def run_lines(lines: list[str], *, cwd: Path, env: dict[str, str], prefix: str = "") -> str:
    """Run ``lines`` as one bash script that stops at the first failing line."""
    script = "set -euo pipefail\n" + prefix + "\n".join(lines) + "\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, f"{lines}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout
