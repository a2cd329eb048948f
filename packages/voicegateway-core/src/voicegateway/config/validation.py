"""pydantic's validation errors as a message and hint a user can act on, each located on the
document: the key path it is about (for :class:`~voicegateway.config.positions.SourceMap` to turn
into a line) and whether the key or its value is at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from voicegateway.config.env import EnvText
from voicegateway.config.errors import did_you_mean
from voicegateway.config.positions import KeyPath

_ABSENT = object()


def locate(data: Any, loc: tuple[Any, ...]) -> tuple[KeyPath, Any, bool]:
    """Map a pydantic error location onto the document: the key path, the value found there
    (``_ABSENT`` for a missing key, the key itself for a bad key) and whether the key is at fault.

    pydantic inserts labels that are not keys (union branches such as ``chain``; ``[key]`` for a
    dict key); they are skipped.
    """
    path: KeyPath = ()
    node = data
    for part in loc:
        if part == "[key]":
            return path, path[-1], True
        if isinstance(node, dict):
            path, node = (*path, part), node.get(part, _ABSENT)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path, node = (*path, part), node[part]
    return path, node, False


def describe(
    detail: Mapping[str, Any], value: Any, model: type[BaseModel], *, reveal: bool
) -> tuple[str, str | None]:
    """pydantic's error as a message and hint a user can act on. With ``reveal`` False (provider
    settings, which hold keys) the offending value is never quoted."""
    kind, ctx, loc = detail["type"], detail.get("ctx") or {}, detail["loc"]
    shown = _show(value, reveal)
    got = f", got {shown}" if shown else ""
    if kind == "extra_forbidden":
        allowed = _fields(_type_at(model, loc[:-1]))
        listing = f"allowed keys: {', '.join(allowed)}" if allowed else None
        return "unknown key", did_you_mean(str(loc[-1]), allowed) or listing
    if kind == "missing":
        choices = _choices(_type_at(model, loc))
        return "required key is missing", f"expected one of {choices}" if choices else None
    if isinstance(value, EnvText) and value.missing:
        # Only text settings can wait for their variable; this one failed validation without it.
        name = value.missing[0]
        return (
            f"environment variable {name} is not set, and this setting needs it at load",
            f"export {name}=... or write ${{{name}:-default}}",
        )
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", ctx["expected"])
        hint = did_you_mean(value, expected) if reveal and isinstance(value, str) else None
        return f"expected one of {', '.join(expected)}{got}", hint
    if kind == "config_check":
        return ctx["message"], ctx.get("hint")
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"]), None
    if kind == "too_short":
        count = ctx["min_length"]
        return "must not be empty" if count == 1 else f"must have at least {count} entries", None
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {kind_of(value)}", None
    if kind == "list_type":
        return f"expected a list, got {kind_of(value)}", None
    if kind == "string_type":
        return f"expected text, got {kind_of(value)}", None
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}{got}", None
    if kind.startswith(("decimal", "float", "int")):
        return f"expected a number{got}", None
    return re.sub(r"^Input should be ", "expected ", detail["msg"]) + got, None


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "nothing" if value is None else type(value).__name__


def _show(value: Any, reveal: bool) -> str | None:
    """How to quote an offending value: containers by kind, scalars only when revealable."""
    if value is _ABSENT:
        return None
    if isinstance(value, dict | list):
        return kind_of(value)
    if not reveal:
        return None
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> X."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [arg for arg in get_args(annotation) if arg is not NoneType]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _type_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotation validated at ``loc`` in ``model``, or None when it cannot be followed."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _fields(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _choices(annotation: Any) -> str | None:
    if get_origin(annotation) is Literal:
        return ", ".join(map(str, get_args(annotation)))
    return None
