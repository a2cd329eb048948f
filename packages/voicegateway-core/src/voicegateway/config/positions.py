"""Where things are written in voicegw.yaml: the line and column of every key and value, by key
path, so a problem found after parsing (by pydantic, by a provider check) points at its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

KeyPath = tuple[Any, ...]
"""Keys and list indexes from the top of the document: ``("providers", "openai", "api_key")``."""
Position = tuple[int, int]
"""(line, column), both 1-based."""


def dotted(path: KeyPath) -> str:
    """``providers.openai.models[0]``: a key path as messages show it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def node_position(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def key_paths(value: Any, path: KeyPath = ()) -> Iterator[KeyPath]:
    """``path`` and the path of every key and list item under it."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from key_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from key_paths(item, (*path, i))


class SourceMap:
    """Where each key and value is written, by key path, as the effective config sees it.

    Positions are recorded by the path written in the file; ``moved`` maps a path of the effective
    config whose value came from the active profile to where the profile wrote it.
    """

    def __init__(self) -> None:
        self.values: dict[KeyPath, Position] = {}
        self.keys: dict[KeyPath, Position] = {}
        self.moved: dict[KeyPath, KeyPath] = {}

    def written_at(self, path: KeyPath) -> KeyPath:
        for end in range(len(path), 0, -1):
            if path[:end] in self.moved:
                return self.moved[path[:end]] + path[end:]
        return path

    def position(self, path: KeyPath, *, prefer_key: bool = False) -> Position | None:
        """Where ``path`` is written; for a key that is absent, where its parent is."""
        while True:
            written = self.written_at(path)
            found = (prefer_key and self.keys.get(written)) or self.values.get(written)
            if found or len(path) <= 1:  # an absent top-level key has no place in the file
                return found
            path, prefer_key = path[:-1], True
