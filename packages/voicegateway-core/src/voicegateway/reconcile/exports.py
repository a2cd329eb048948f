"""The toolkit provider readers of JSON usage exports share (``voicegateway_<id>.usage_export``).

Every reader must refuse a malformed file with an :class:`~.billed.ExportError` that names the
file, the JSON path and the field, keep amounts exact and report nothing from a file it could
not read whole. :class:`JsonFile` does the checked reading, in one message style (``missing``,
``expected an integer, got a string``); :func:`all_or_nothing` makes a reader read all of a
file before its first line; :func:`lazy` keeps a plugin's ``register_usage_readers`` hook from
importing its reader module. Standard library only.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from voicegateway.reconcile.billed import ExportError, Page

TOP = "top level"
"""The ``where`` of an error in the document itself rather than in one of its items."""

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_Line = TypeVar("_Line")
_Value = TypeVar("_Value")
_NUMBER: tuple[type[int | Decimal], ...] = (int, Decimal)


class JsonFile:
    """One JSON export being read: its name, for errors, and checked access to its values.

    Numbers are parsed as :class:`~decimal.Decimal`, so money and fractional units stay exact;
    ``NaN`` and ``Infinity`` stay floats, which no check accepts as a number.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    def error(self, where: str, column: str | None, problem: str) -> ExportError:
        return ExportError(self.name, where, column, problem)

    def load(self) -> Any:
        """The parsed document; an error names the byte or line where it stops being JSON."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"byte {exc.start}", None, "not UTF-8 text") from None
        try:
            return json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise self.error(where, None, f"not JSON: {exc.msg}") from None

    def load_object(self) -> dict:
        """The parsed document, which must be one JSON object (one API response)."""
        document = self.load()
        if not isinstance(document, dict):
            raise self.error(TOP, None, f"expected an object, got {json_type(document)}")
        return document

    def field(
        self,
        obj: dict | list,
        where: str,
        name: str | int,
        kinds: tuple[type[_Value], ...],
        label: str = "",
    ) -> _Value:
        """``obj[name]``, of one of ``kinds`` (never a boolean, which Python counts as an int).
        ``label`` names it in errors: a nested field (``amount.value``), or the series an index
        of a list belongs to."""
        column = label or str(name)
        try:
            value = obj[name]  # type: ignore[index]
        except (KeyError, IndexError):
            raise self.error(where, column, "missing") from None
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(where, column, f"expected {_kinds(kinds)}, got {json_type(value)}")
        return value

    def optional(
        self, obj: dict, where: str, name: str, kinds: tuple[type[_Value], ...], label: str = ""
    ) -> _Value | None:
        """Like :meth:`field`, but None when the field is absent or null."""
        if obj.get(name) is None:
            return None
        return self.field(obj, where, name, kinds, label)

    def count(
        self, obj: dict | list, where: str, name: str | int, label: str = "", *, required=True
    ) -> Decimal:
        """A non-negative whole number (tokens, characters, a unix time); an absent or null
        optional count is 0."""
        if not required and isinstance(obj, dict) and obj.get(name) is None:
            return Decimal(0)
        value = self.field(obj, where, name, (int,), label)
        if value < 0:
            raise self.error(
                where, label or str(name), f"expected a non-negative integer, got {value}"
            )
        return Decimal(value)

    def amount(self, obj: dict | list, where: str, name: str | int, label: str = "") -> Decimal:
        """A non-negative number (seconds, hours, money), exactly as written."""
        value = Decimal(self.field(obj, where, name, _NUMBER, label))
        if value < 0:
            raise self.error(
                where, label or str(name), f"expected a non-negative number, got {value}"
            )
        return value

    def moment(self, obj: dict, where: str, name: str) -> datetime.datetime:
        """An RFC 3339 time with its zone, as written (not converted to UTC)."""
        text = self.field(obj, where, name, (str,))
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise self.error(where, name, f"not an RFC 3339 time: {text!r}") from None
        if moment.tzinfo is None:
            raise self.error(where, name, f"no time zone: {text!r}")
        return moment

    def objects(self, obj: dict, where: str, name: str, at: str = "") -> Iterator[tuple[str, dict]]:
        """The objects of the array ``obj[name]``, each with its JSON path: ``at`` (the path of
        ``obj`` with its trailing dot) then ``name[i]``."""
        for i, item in enumerate(self.field(obj, where, name, (list,))):
            spot = f"{at}{name}[{i}]"
            if not isinstance(item, dict):
                raise self.error(spot, None, f"expected an object, got {json_type(item)}")
            yield spot, item

    def pages(self, document: Any) -> Iterator[tuple[str, str, dict]]:
        """The responses in a file that holds one API response, or the list of them a paginated
        export was saved as: ``(where, at, page)``, ``at`` being the prefix of paths inside
        the page (``[1].``, or nothing for a single response)."""
        if not isinstance(document, list):
            pages = [(TOP, "", document)]
        else:
            pages = [(f"[{p}]", f"[{p}].", page) for p, page in enumerate(document)]
        for where, at, page in pages:
            if not isinstance(page, dict):
                raise self.error(where, None, f"expected an object, got {json_type(page)}")
            yield where, at, page

    def page(
        self, where: str, page: dict, spans: list[tuple[datetime.datetime, datetime.datetime]]
    ) -> list[Page]:
        """The :class:`~.billed.Page` of a paginated API's response (``has_more``,
        ``next_page``) whose buckets span ``spans``, for ``voicegw reconcile`` to join it with
        the pages that follow; none for a page without buckets that is the last, and an error
        for one that says more follows."""
        has_more = page.get("has_more")
        if has_more is not None and not isinstance(has_more, bool):
            raise self.error(where, "has_more", f"expected a boolean, got {json_type(has_more)}")
        cursor = self.optional(page, where, "next_page", (str,))
        said = ["has_more: true"] if has_more else []
        said += [f"next_page {cursor!r}"] if cursor else []
        more = ", ".join(said) or None
        if not spans:
            if more:
                raise self.error(
                    where,
                    "has_more",
                    "a page without buckets says more follows: fetch the following pages and "
                    "pass them together",
                )
            return []
        start, end = min(s[0] for s in spans), max(s[1] for s in spans)
        return [Page(f"{self.name}:{where}", start, end, more)]


def part_of_day(
    start: datetime.datetime, end: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """A UTC bucket's ``[start, end)`` when it covers only part of its day (a period asked from
    14:23, hourly buckets), None when it is the whole UTC day: ``BilledUsage.covers``."""
    midnight = datetime.datetime.combine(start.date(), datetime.time(), datetime.UTC)
    whole = start == midnight and end == midnight + datetime.timedelta(days=1)
    return None if whole else (start, end)


def all_or_nothing(read: Callable[[Path], Iterable[_Line]]) -> Callable[[Path], Iterator[_Line]]:
    """A reader that reads all of the file before it gives its first line, so that an error at
    the end of a file is raised before anything of it is reported (the reconciler's contract:
    nothing partial)."""

    @functools.wraps(read)
    def read_whole(path: Path) -> Iterator[_Line]:
        return iter(list(read(path)))

    return read_whole


def utc_day_from_seconds(seconds: int) -> datetime.date:
    """The UTC date of a unix time in seconds (the day buckets of most usage APIs start at)."""
    return (_EPOCH + datetime.timedelta(seconds=seconds)).date()


def snapshot_model_name(reported: str, listed: Collection[str], snapshot: re.Pattern[str]) -> str:
    """The model as our records name it. Providers bill the dated snapshot that served a request
    (``gpt-4o-mini-2024-07-18``) where a record keeps the name the agent asked for
    (``gpt-4o-mini``): when ``snapshot`` matches ``reported`` and its ``base`` group is a listed
    model while ``reported`` is not, that base; any other name as reported."""
    match = snapshot.match(reported)
    if match and reported not in listed and match["base"] in listed:
        return match["base"]
    return reported


def lazy(module: str, attr: str) -> Callable[..., Any]:
    """``module.attr``, imported on the first call. ``register_usage_readers`` hooks register
    their readers' ``sniff`` and ``read`` with it: every command that loads plugins runs the
    hook, but only ``voicegw reconcile`` needs the reader module."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = f"{module}.{attr}"
    return call


def json_type(value: Any) -> str:
    """What a JSON value is, for messages: ``a string``, ``null``, ``nan``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):  # NaN or Infinity: every other number parses as a Decimal
        return f"{value}"
    return _kinds((type(value),))


def _kinds(kinds: tuple[type, ...]) -> str:
    if Decimal in kinds:
        return "a number"
    names = {int: "an integer", str: "a string", list: "an array"}
    return " or ".join(names.get(kind, "an object") for kind in kinds)
