"""``${VAR}`` references in voicegw.yaml, and the :class:`Secret` that keeps API keys out of sight.

A string may use ``${VAR}``, ``${VAR:-default}`` (the default applies when VAR is unset or empty)
and ``$${`` for a literal ``${``, anywhere in its text: ``http://${HOST:-localhost}:8080/v1``.

Provider settings are read lazily: a key whose variable is unset must not stop an agent that never
uses that provider. Such strings become :class:`EnvText`, which remembers how the value was written
and where, so :class:`MissingEnvError` can point at the line when the value is finally needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from voicegateway.errors import VoiceGatewayError

_REFERENCE = re.compile(
    r"\$\$\{"  # an escaped literal "${"
    r"|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})?"
)
"""Matches ``$${``, or ``${`` with, when well formed, the variable name and optional default."""

MASK = "****"


class MissingEnvError(VoiceGatewayError):
    """A setting needs an environment variable that is not set and has no default."""

    def __init__(
        self, variable: str, path: str, file: Path | None = None, line: int | None = None
    ) -> None:
        self.variable = variable
        self.path = path
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file is not None and line is not None else ""
        super().__init__(
            f"{where}{path} needs the environment variable {variable}, which is not set; "
            f"export {variable}=... or give a default in voicegw.yaml: ${{{variable}:-default}}"
        )


def has_reference(text: str) -> bool:
    """Whether interpolation could change ``text`` (cheap test before parsing)."""
    return "${" in text


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace every reference in ``text``; return the result and the variables left unset.

    An unset variable with no default contributes nothing to the result, so the caller must not
    use the result when the list is non-empty. Raises ValueError for a malformed reference.
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group() == "$${":
            return "${"
        name, default = match.group("name"), match.group("default")
        if name is None:
            raise ValueError(
                "malformed variable reference; write ${NAME} or ${NAME:-default}, "
                "and $${ for a literal ${"
            )
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _REFERENCE.sub(replace, text), missing


def mask_template(text: str) -> str:
    """``text`` with its references kept and everything literal masked, safe to print for a secret:
    ``${OPENAI_API_KEY}`` stays as is, ``sk-123`` becomes ``****``, defaults become ``****``."""
    parts: list[str] = []
    position = 0
    for match in _REFERENCE.finditer(text):
        if match.start() > position or match.group() == "$${":
            parts.append(MASK)
        if match.group("name"):
            default = "" if match.group("default") is None else f":-{MASK}"
            parts.append(f"${{{match.group('name')}{default}}}")
        position = match.end()
    if position < len(text):
        parts.append(MASK)
    # Adjacent literal runs collapse into one mask.
    return re.sub(rf"(?:{re.escape(MASK)})+", MASK, "".join(parts))


class EnvText(str):
    """A provider setting that used ``${...}``: the value, plus how it was written and where.

    When a variable was unset, the text is the template itself (``${OPENAI_BASE_URL}``), never an
    empty string, and :meth:`resolve` raises :class:`MissingEnvError` until the variable is set.
    Its repr never shows the value, since API keys travel as EnvText too.
    """

    template: str
    missing: tuple[str, ...]
    path: str
    file: Path | None
    line: int | None

    def __new__(
        cls,
        value: str,
        template: str,
        missing: tuple[str, ...] = (),
        path: str = "",
        file: Path | None = None,
        line: int | None = None,
    ) -> EnvText:
        text = super().__new__(cls, template if missing else value)
        text.template = template
        text.missing = tuple(missing)
        text.path = path
        text.file = file
        text.line = line
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return EnvText, (str(self), self.template, self.missing, self.path, self.file, self.line)

    def __repr__(self) -> str:
        return f"EnvText({mask_template(self.template)})"

    def errors(self) -> list[MissingEnvError]:
        """One error per variable this text still lacks."""
        return [MissingEnvError(name, self.path, self.file, self.line) for name in self.missing]

    def resolve(self, env: Mapping[str, str] | None = None) -> EnvText:
        """This text with its missing variables read again from ``env`` (default: os.environ)."""
        if not self.missing:
            return self
        value, missing = substitute(self.template, os.environ if env is None else env)
        if missing:
            raise MissingEnvError(missing[0], self.path, self.file, self.line)
        return EnvText(value, self.template, (), self.path, self.file, self.line)


class Secret:
    """An API key or other credential. Its repr, str and serialized form never contain the value.

    Built from a plain string (a literal key) or from :class:`EnvText` (a ``${VAR}`` reference,
    possibly still unset). Not a ``str``, so it cannot leak by being formatted by accident.
    """

    __slots__ = ("_text",)

    def __init__(self, value: str) -> None:
        self._text = value

    def get_secret_value(self) -> str:
        """The key itself. Raises :class:`MissingEnvError` if its variable is still unset."""
        if isinstance(self._text, EnvText):
            return str(self._text.resolve())
        return self._text

    @property
    def source(self) -> str:
        """Where the value comes from, safe to print: ``${OPENAI_API_KEY}`` or ``literal``."""
        if isinstance(self._text, EnvText):
            return mask_template(self._text.template)
        return "literal"

    @property
    def is_set(self) -> bool:
        """Whether :meth:`get_secret_value` would return a value now."""
        if not isinstance(self._text, EnvText) or not self._text.missing:
            return True
        return not substitute(self._text.template, os.environ)[1]

    def display(self) -> str:
        """The form shown by ``voicegw check``: the ``${VAR}`` source, or ``****`` for a literal."""
        return MASK if self.source == "literal" else self.source

    def __repr__(self) -> str:
        return f"Secret({self.display()})"

    __str__ = display

    def _identity(self) -> tuple[str, str | None]:
        template = self._text.template if isinstance(self._text, EnvText) else None
        return str(self._text), template

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(cls.display),
        )

    @classmethod
    def _validate(cls, value: Any) -> Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return cls(value)
        # The message must not echo the input: it may be the key itself.
        raise PydanticCustomError("secret_type", "expected a string")
