"""Problems found in voicegw.yaml.

A config file is fixed in one sitting, so the loader collects every problem and raises them
together in one :class:`ConfigError`; each :class:`ConfigIssue` says file:line:column, the key path,
what was expected and, for a likely typo, what was probably meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from voicegateway.errors import VoiceGatewayError


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'api_key'?"`` when ``word`` is close to one of ``choices``, else None."""
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {matches[0]!r}?" if matches else None


def display_path(file: Path) -> str:
    """``file`` relative to the working directory when it is inside it, so messages stay short."""
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file."""

    file: Path | None
    line: int | None
    column: int | None
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = display_path(self.file) if self.file is not None else ""
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        text = ": ".join(part for part in (where, self.path, self.message) if part)
        return f"{text}; {self.hint}" if self.hint else text


class ConfigError(VoiceGatewayError):
    """Every problem of one config file, one per line after a header naming the file."""

    def __init__(self, issues: Iterable[ConfigIssue], file: Path | None = None) -> None:
        self.issues = list(issues)
        self.file = file
        count = len(self.issues)
        header = f"{count} problem{'' if count == 1 else 's'} in {file or 'the configuration'}"
        super().__init__("\n".join([header, *(f"  {issue}" for issue in self.issues)]))

    def problems(self) -> list[str]:
        return [str(issue) for issue in self.issues]


class UnknownProjectError(VoiceGatewayError, ValueError):
    """A project name that voicegw.yaml does not define."""

    def __init__(self, name: str, available: Iterable[str], default: str) -> None:
        self.name = name
        self.available = sorted(available)
        if self.available:
            hint = did_you_mean(name, self.available) or f"projects: {', '.join(self.available)}"
            message = f"unknown project {name!r}; {hint}"
        else:
            message = (
                f"unknown project {name!r}: voicegw.yaml defines no projects, "
                f"so only the default project {default!r} exists"
            )
        super().__init__(message)
