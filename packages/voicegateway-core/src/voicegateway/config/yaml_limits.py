"""Bounds on what a voicegw.yaml can make the parser do.

A config is small, but a careless or hostile one is not: a 0.5 KB chain of aliases expands to
billions of values (minutes of CPU, gigabytes of memory), thousands of nested brackets overflow
PyYAML's recursive composer with a bare RecursionError, and a 50 MB file takes a minute to parse.
Each limit stops the load early with the place it was crossed, far above what a real config
needs.
"""

from __future__ import annotations

from typing import Any

import yaml

from voicegateway.errors import VoiceGatewayError

MAX_BYTES = 256 * 1024
"""The largest config file read: a real one is a few kilobytes, and PyYAML parses about
100 KB a second."""
MAX_DEPTH = 64
"""Mappings and lists nested in one another: a real config nests fewer than ten."""
MAX_ALIASED_VALUES = 10_000
"""Values that ``*alias`` references (and ``<<: *anchor`` merges) add, counted as expanded."""


class YAMLLimitError(VoiceGatewayError):
    """A limit was crossed at ``line``:``column`` (1-based)."""

    def __init__(self, line: int, column: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message, self.hint = line, column, message, hint


def check_size(data: bytes) -> None:
    """Raise when ``data`` (the file's first ``MAX_BYTES + 1`` bytes) passes ``MAX_BYTES``,
    pointing at where it does."""
    if len(data) <= MAX_BYTES:
        return
    head = data[:MAX_BYTES]
    line = head.count(b"\n") + 1
    column = MAX_BYTES - (head.rfind(b"\n") + 1) + 1
    raise YAMLLimitError(
        line,
        column,
        f"the file is larger than {MAX_BYTES // 1024} KiB (the limit is passed here)",
        "a voicegw.yaml holds settings only: check that this is the file you meant",
    )


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth and aliased values while it composes the node tree:
    it stops before the recursion gets deep or an alias multiplies the document."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliased = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values it holds, aliases expanded
        self._counted = 0  # values composed so far, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node), 1)  # an alias to its own ancestor: cycle, reported
            self._counted += size
            self._aliased += size
            if self._aliased > MAX_ALIASED_VALUES:
                raise YAMLLimitError(
                    mark.line + 1,
                    mark.column + 1,
                    f"aliases expand this file to more than {MAX_ALIASED_VALUES:,} values",
                    "write the repeated part out, or reference it fewer times",
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YAMLLimitError(
                mark.line + 1,
                mark.column + 1,
                f"mappings and lists are nested more than {MAX_DEPTH} deep",
                "a voicegw.yaml nests a few levels: check the brackets and indentation",
            )
        before = self._counted
        self._counted += 1
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = self._counted - before
        self._depth -= 1
        return node
